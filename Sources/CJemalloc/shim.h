#ifndef SPOOL_CJEMALLOC_SHIM_H
#define SPOOL_CJEMALLOC_SHIM_H
// spoold allocates through jemalloc, as Redis does: linking it replaces malloc and free for the
// whole process (the Swift runtime, WiredTiger, libuv). Only its control interface is declared
// here (for INFO's mem_allocator); jemalloc.h would rename malloc and friends.
#include <stddef.h>
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#endif
