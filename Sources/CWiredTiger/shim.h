#ifndef SPOOL_CWIREDTIGER_SHIM_H
#define SPOOL_CWIREDTIGER_SHIM_H
#include <wiredtiger.h>
#include <stdint.h>
#include <stddef.h>

/*
 * WT_CURSOR's set_key/set_value/get_key/get_value are C-variadic; Swift cannot call them.
 * Spool's tables all use key_format=u and value_format=u (raw bytes), so these wrappers take
 * a pointer and length and never expose the variadic signature.
 */
static inline void spool_wt_cursor_set_key(WT_CURSOR *c, const void *data, size_t size) {
    WT_ITEM item;
    item.data = data;
    item.size = size;
    c->set_key(c, &item);
}

static inline void spool_wt_cursor_set_value(WT_CURSOR *c, const void *data, size_t size) {
    WT_ITEM item;
    item.data = data;
    item.size = size;
    c->set_value(c, &item);
}

/* The returned memory belongs to the cursor and is valid until it moves or is reset. */
static inline int spool_wt_cursor_get_key(WT_CURSOR *c, const void **data, size_t *size) {
    WT_ITEM item;
    int ret = c->get_key(c, &item);
    if (ret == 0) { *data = item.data; *size = item.size; }
    return ret;
}

static inline int spool_wt_cursor_get_value(WT_CURSOR *c, const void **data, size_t *size) {
    WT_ITEM item;
    int ret = c->get_value(c, &item);
    if (ret == 0) { *data = item.data; *size = item.size; }
    return ret;
}

#endif
