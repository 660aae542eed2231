#ifndef SPOOL_CLIBUV_SHIM_H
#define SPOOL_CLIBUV_SHIM_H
#include <uv.h>
#endif
