#ifndef SEER_CALLOCATOR_H
#define SEER_CALLOCATOR_H

#include <stddef.h>

/// Serves every heap block of at least `bytes` with its own mapping, returned to the system when freed,
/// and turns off glibc's dynamic threshold (which otherwise climbs after each large free until
/// multi-MiB request buffers stay in per-thread arenas that never shrink). Process-wide; call once
/// at start. Returns 1 when the allocator took the setting, 0 when it did not (or is not glibc).
int seer_allocator_map_blocks_from(size_t bytes);

#endif
