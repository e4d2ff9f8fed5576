/* tests/kmodel-names.c: the names of the ABI, as the kernel model, its
 * scenarios and its traces spell them, and a few small helpers every part
 * of the model uses.  The values come from memd-abi.h, tangled from
 * memd.nw; `kmodel --names` prints the tables and a test compares them
 * with the header.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmodel.h"

/* ======================================================================
 * Names.  Every constant a scenario or the trace names, with the value the
 * ABI header gives it.  `kmodel --names` prints these tables, and a test
 * compares them with the header, so a constant added to the ABI without a
 * name here is caught.
 * ====================================================================== */


#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NAMED(x, word) { #x, word, (uint64_t)(x) }

const struct name status_names[] = {
    NAMED(MEMD_STARTUP_OK, "ok"),
    NAMED(MEMD_ST_FRAME_OUTSIDE_STACK, NULL),
    NAMED(MEMD_ST_FRAME_TRUNCATED, NULL),
    NAMED(MEMD_ST_FRAME_MAGIC, NULL),
    NAMED(MEMD_ST_FRAME_MAJOR, NULL),
    NAMED(MEMD_ST_FRAME_MINOR, NULL),
    NAMED(MEMD_ST_FRAME_RESERVED, NULL),
    NAMED(MEMD_ST_FRAME_SIZE, NULL),
    NAMED(MEMD_ST_FRAME_ENVELOPE_BOUNDS, NULL),
    NAMED(MEMD_ST_FRAME_STACK_SHORT, NULL),
    NAMED(MEMD_ST_ENV_TRUNCATED, NULL),
    NAMED(MEMD_ST_ENV_MAGIC, NULL),
    NAMED(MEMD_ST_ENV_MAJOR, NULL),
    NAMED(MEMD_ST_ENV_MINOR, NULL),
    NAMED(MEMD_ST_ENV_SIZE_MISMATCH, NULL),
    NAMED(MEMD_ST_ENV_ROLE, NULL),
    NAMED(MEMD_ST_ENV_RESERVED, NULL),
    NAMED(MEMD_ST_ENV_REPLY_SLOT, NULL),
    NAMED(MEMD_ST_ENV_SLOT_COUNT, NULL),
    NAMED(MEMD_ST_ENV_UNTYPED_COUNT, NULL),
    NAMED(MEMD_ST_ENV_CLIENT_COUNT, NULL),
    NAMED(MEMD_ST_ENV_LAYOUT, NULL),
    NAMED(MEMD_ST_SLOT_RANGE, NULL),
    NAMED(MEMD_ST_SLOT_DUPLICATE, NULL),
    NAMED(MEMD_ST_SLOT_USE, NULL),
    NAMED(MEMD_ST_SLOT_TYPE, NULL),
    NAMED(MEMD_ST_SLOT_RIGHTS_BITS, NULL),
    NAMED(MEMD_ST_SLOT_RESERVED, NULL),
    NAMED(MEMD_ST_UNTYPED_SLOT, NULL),
    NAMED(MEMD_ST_UNTYPED_SLOT_DUPLICATE, NULL),
    NAMED(MEMD_ST_UNTYPED_FLAGS, NULL),
    NAMED(MEMD_ST_UNTYPED_RESERVED, NULL),
    NAMED(MEMD_ST_UNTYPED_SIZE, NULL),
    NAMED(MEMD_ST_UNTYPED_BEYOND_PHYS, NULL),
    NAMED(MEMD_ST_UNTYPED_ALIGN, NULL),
    NAMED(MEMD_ST_UNTYPED_OVERLAP, NULL),
    NAMED(MEMD_ST_UNTYPED_TOO_MANY_FRAMES, NULL),
    NAMED(MEMD_ST_UNTYPED_UNDESCRIBED, NULL),
    NAMED(MEMD_ST_UNTYPED_NO_RAM, NULL),
    NAMED(MEMD_ST_CLIENT_BADGE, NULL),
    NAMED(MEMD_ST_CLIENT_DUPLICATE, NULL),
    NAMED(MEMD_ST_CLIENT_RESERVED, NULL),
    NAMED(MEMD_ST_CLIENT_BUDGET, NULL),
    NAMED(MEMD_ST_INTAKE_DUPLICATE_USE, NULL),
    NAMED(MEMD_ST_INTAKE_MEM_ENDPOINT_SLOT, NULL),
    NAMED(MEMD_ST_INTAKE_READY_SLOT, NULL),
    NAMED(MEMD_ST_INTAKE_TYPE, NULL),
    NAMED(MEMD_ST_INTAKE_RIGHTS_MISSING, NULL),
    NAMED(MEMD_ST_INTAKE_RIGHTS_OVERBROAD, NULL),
    NAMED(MEMD_ST_INTAKE_MISSING, NULL),
    NAMED(MEMD_ST_WINDOW_OVERLAP, NULL),
    NAMED(MEMD_ST_WINDOW_RANGE, NULL),
    NAMED(MEMD_ST_WINDOW_TOO_SMALL, NULL),
    NAMED(MEMD_ST_META_ALIGN, NULL),
    NAMED(MEMD_ST_META_RANGE, NULL),
    NAMED(MEMD_ST_META_OVERLAP, NULL),
    NAMED(MEMD_ST_META_TOO_SMALL, NULL),
    NAMED(MEMD_ST_REAL_QUERY_FAILED, NULL),
    NAMED(MEMD_ST_REAL_TYPE, NULL),
    NAMED(MEMD_ST_REAL_RIGHTS, NULL),
    NAMED(MEMD_ST_REAL_RETYPE, NULL),
    NAMED(MEMD_ST_READY_REJECTED, NULL),
};
const size_t status_names_count = ARRAY_LEN(status_names);

const struct name kerr_names[] = {
    NAMED(KERR_OK, "ok"),
    NAMED(KERR_INVALID_ARGUMENT, "invalid-argument"),
    NAMED(KERR_INVALID_CAP, "invalid-cap"),
    NAMED(KERR_RANGE, "range"),
    NAMED(KERR_DELETE_FIRST, "delete-first"),
    NAMED(KERR_NOT_ENOUGH_MEMORY, "not-enough-memory"),
    NAMED(KERR_ILLEGAL_OPERATION, "illegal-operation"),
    NAMED(KERR_TOO_MANY, "too-many"),
};
const size_t kerr_names_count = ARRAY_LEN(kerr_names);

const struct name result_names[] = {
    NAMED(MEMD_OK, "ok"),
    NAMED(MEMD_DENIED, "denied"),
    NAMED(MEMD_INVALID_ARGUMENT, "invalid-argument"),
    NAMED(MEMD_NOT_FOUND, "not-found"),
    NAMED(MEMD_BUSY, "busy"),
    NAMED(MEMD_INTERNAL, "internal"),
    NAMED(MEMD_EXHAUSTED, "exhausted"),
    NAMED(MEMD_OVER_BUDGET, "over-budget"),
};
const size_t result_names_count = ARRAY_LEN(result_names);

const struct name field_names[] = {
    NAMED(MEMD_FIELD_NONE, "none"),
    NAMED(MEMD_FIELD_LENGTH, "length"),
    NAMED(MEMD_FIELD_OP, "op"),
    NAMED(MEMD_FIELD_VERSION, "version"),
    NAMED(MEMD_FIELD_RESERVED, "reserved"),
    NAMED(MEMD_FIELD_CALLER, "caller"),
    NAMED(MEMD_FIELD_COUNT, "count"),
    NAMED(MEMD_FIELD_FRAME, "frame"),
    NAMED(MEMD_FIELD_BADGE, "badge"),
    NAMED(MEMD_FIELD_FRAME_BUDGET, "frame-budget"),
    NAMED(MEMD_FIELD_SLOT_BUDGET, "slot-budget"),
    NAMED(MEMD_FIELD_KERNEL, "kernel"),
};
const size_t field_names_count = ARRAY_LEN(field_names);

const struct name op_names[] = {
    NAMED(MEMD_OP_READY, "READY"),
    NAMED(MEMD_OP_ALLOC, "ALLOC"),
    NAMED(MEMD_OP_FREE, "FREE"),
    NAMED(MEMD_OP_STATS, "STATS"),
    NAMED(MEMD_OP_RECLAIM, "RECLAIM"),
};
const size_t op_names_count = ARRAY_LEN(op_names);

const struct name sys_names[] = {
    NAMED(SYS_CALL, "CALL"),
    NAMED(SYS_RECV, "RECV"),
    NAMED(SYS_REPLY, "REPLY"),
    NAMED(SYS_QUERY_CAP, "QUERY_CAP"),
    NAMED(SYS_QUERY_LOCAL_CAP, "QUERY_LOCAL_CAP"),
    NAMED(SYS_UNTYPED_RETYPE, "UNTYPED_RETYPE"),
    NAMED(SYS_CAP_DELETE, "CAP_DELETE"),
    NAMED(SYS_CAP_REVOKE, "CAP_REVOKE"),
    NAMED(SYS_FRAME_CLEAR, "FRAME_CLEAR"),
    NAMED(SYS_HALT, "HALT"),
};
const size_t sys_names_count = ARRAY_LEN(sys_names);

const struct name type_names[] = {
    NAMED(CAP_TYPE_EMPTY, "empty"),
    NAMED(CAP_TYPE_UNTYPED, "untyped"),
    NAMED(CAP_TYPE_FRAME, "frame"),
    NAMED(CAP_TYPE_ENDPOINT, "endpoint"),
    NAMED(CAP_TYPE_CNODE, "cnode"),
};
const size_t type_names_count = ARRAY_LEN(type_names);

const struct name right_names[] = {
    NAMED(CAP_RIGHT_READ, "read"),
    NAMED(CAP_RIGHT_WRITE, "write"),
    NAMED(CAP_RIGHT_GRANT, "grant"),
    NAMED(CAP_RIGHT_RETYPE, "retype"),
};
const size_t right_names_count = ARRAY_LEN(right_names);

const struct name use_names[] = {
    NAMED(MEMD_USE_MEM_ENDPOINT, "mem-endpoint"),
    NAMED(MEMD_USE_READY_ENDPOINT, "ready-endpoint"),
    NAMED(MEMD_USE_CSPACE, "cspace"),
    NAMED(MEMD_USE_UNTYPED, "untyped"),
};
const size_t use_names_count = ARRAY_LEN(use_names);


#define TABLE(what, t) { what, t, ARRAY_LEN(t) }
const struct name_table all_tables[] = {
    TABLE("status", status_names), TABLE("kerr", kerr_names),
    TABLE("result", result_names), TABLE("field", field_names),
    TABLE("op", op_names),         TABLE("sys", sys_names),
    TABLE("type", type_names),     TABLE("right", right_names),
    TABLE("use", use_names),
};
const size_t all_tables_count = ARRAY_LEN(all_tables);

/* The word for a value: the scenario word if it has one, else the ABI
   name; NULL for a value the table does not hold. */
const char *name_of(const struct name *t, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].value == v)
            return t[i].word != NULL ? t[i].word : t[i].abi;
    }
    return NULL;
}

/* A value from its scenario word or its ABI name. */
bool value_of(const struct name *t, size_t n, const char *s,
                     uint64_t *v)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].abi, s) == 0 ||
            (t[i].word != NULL && strcmp(t[i].word, s) == 0)) {
            *v = t[i].value;
            return true;
        }
    }
    return false;
}


/* Appends to buf (n bytes in all) at *k, as snprintf would, and moves *k
   on by what it wanted to write: a full buffer stays terminated. */
void appendf(char *buf, size_t n, size_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + (*k < n ? *k : n), *k < n ? n - *k : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        *k += (size_t)w;
}

/* Names with a number as the fall-back; each call uses its own buffer out
   of a small ring, so that several may appear in one printf. */
char *ring_buf(void)
{
    static char ring[8][96];    // cppcheck-suppress constVariable ; the callers write them
    static unsigned next;
    return ring[next++ % 8u];
}

const char *word_or_number(const struct name *t, size_t n, uint64_t v)
{
    const char *w = name_of(t, n, v);
    if (w != NULL)
        return w;
    char *b = ring_buf();
    (void)snprintf(b, 96, "%#" PRIx64, v);
    return b;
}


const char *status_word(uint32_t st)
{
    const char *w = NAME_OF(status_names, st);
    if (st == MEMD_STARTUP_OK)
        return "MEMD_STARTUP_OK";
    if (w != NULL)
        return w;
    char *b = ring_buf();
    (void)snprintf(b, 96, "unknown status %" PRIu32, st);
    return b;
}

const char *rights_word(uint32_t rights)
{
    char *b = ring_buf();
    size_t len = 0;
    b[0] = '\0';
    if (rights == 0u)
        return "none";
    for (size_t i = 0; i < right_names_count; i++) {
        if ((rights & right_names[i].value) != 0u)
            len += (size_t)snprintf(b + len, 96 - len, "%s%s",
                                    len != 0 ? "+" : "", right_names[i].word);
    }
    if ((rights & ~(uint32_t)CAP_RIGHTS_ALL) != 0u)
        (void)snprintf(b + len, 96 - len, "%s%#x", len != 0 ? "+" : "",
                 rights & ~(uint32_t)CAP_RIGHTS_ALL);
    return b;
}

/* ======================================================================
 * Small helpers: memory and numbers.
 * ====================================================================== */

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        (void)fprintf(stderr, "kmodel: out of memory\n");
        exit(2);
    }
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (q == NULL) {
        (void)fprintf(stderr, "kmodel: out of memory\n");
        exit(2);
    }
    return q;
}

bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return false;
    *v = (uint64_t)x;
    return true;
}

