#include <cblas.h>

/// Stops the thread pool a threaded OpenBLAS starts when it loads (OpenBLAS's own fork handler calls
/// it). Weak: the serial and OpenMP builds have no such pool, and no such function.
extern void blas_thread_shutdown_(void) __attribute__((weak));

/// Makes every later OpenBLAS call run on its caller's thread only, and ends the pool OpenBLAS started
/// at load: its threads spin (yielding) for about a tenth of a second after the library loads, time in
/// which they compete with the caller's own threads for the cores. The count must be set first:
/// setting it restarts a stopped pool.
static inline void seer_openblas_use_calling_thread_only(void) {
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
