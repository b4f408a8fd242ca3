/* Both element types of one instruction-set instance: included by _simd.h with NNF_ISA (the
 * instance's name suffix), NNF_VB and the GEMM register blocks defined; undefines them after. */

#define NNF_T double
#define NNF_TBYTES 8
#define NNF_UT uint64_t
#define NNF_IT long long
#define NNF_NAME(x) NNF_CAT(x, NNF_CAT(_d_, NNF_ISA))
#include "_simd_impl.h"
#include "_gemm_impl.h"
#include "_gemm_packed.h"
#undef NNF_T
#undef NNF_TBYTES
#undef NNF_UT
#undef NNF_IT
#undef NNF_NAME

#define NNF_T float
#define NNF_TBYTES 4
#define NNF_UT uint32_t
#define NNF_IT int
#define NNF_NAME(x) NNF_CAT(x, NNF_CAT(_s_, NNF_ISA))
#include "_simd_impl.h"
#include "_gemm_impl.h"
#include "_gemm_packed.h"
#undef NNF_T
#undef NNF_TBYTES
#undef NNF_UT
#undef NNF_IT
#undef NNF_NAME

#undef NNF_ISA
#undef NNF_VB
#undef NNF_NT_MR
#undef NNF_NT_NR
#undef NNF_XN_MR
#undef NNF_XN_NV
