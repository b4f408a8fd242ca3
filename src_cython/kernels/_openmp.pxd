# One guard for every OpenMP call: compiles with or without OpenMP (-fopenmp defines _OPENMP).
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define NNFAST_OPENMP_ENABLED 1
    #else
    #define NNFAST_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint NNFAST_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
