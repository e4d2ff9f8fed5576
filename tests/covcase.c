/* tests/covcase.c: coverage per test case, for the book's evidence.

   Linked into a test program built with --coverage (make book-evidence
   builds build/cov/cases-test-NAME so), with -Wl,--wrap=printf: every
   printf of the program comes here first.  The test programs report each
   case with one printf, "ok - AREA/NAME" or "not ok - AREA/NAME (why)",
   after the case ran; so the counters gcov keeps, between one such line
   and the next, are those of one case.  At each one this file writes the
   counters out (__gcov_dump) into a directory of the case's own, then
   zeroes them (__gcov_reset):

       $MEMD_CASE_DIR/NNNN/...  the .gcda files of the NNNN-th case
       $MEMD_CASE_DIR/cases     one line per case: NNNN, a tab, ok or
                                not ok, a tab, AREA/NAME
       $MEMD_CASE_DIR/after/... what ran after the last case (at exit)

   libgcov puts a .gcda file under GCOV_PREFIX, read when it writes one, so
   the directory is chosen by setting it.  Without MEMD_CASE_DIR the
   program behaves exactly as it does without this file.  tests/evidence.py
   runs the programs and reads the directories with gcov. */
/* setenv is POSIX; the name is the one POSIX asks for. */
#define _POSIX_C_SOURCE 200809L  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libgcov's interface (gcc's gcov-io.h); present in every program linked
   with --coverage.  The names are libgcov's, and ld's (--wrap makes every
   call of printf one of __wrap_printf), so reserved names they must be. */
void __gcov_dump(void);   // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
void __gcov_reset(void);  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)

int __wrap_printf(const char *format, ...);  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)

static unsigned cases;

/* The case a result line names: "ok - AREA/NAME (why)" -> AREA/NAME. */
static void case_name(const char *line, char *name, size_t size)
{
    const char *start = strstr(line, " - ");
    size_t n;

    start = start != NULL ? start + 3 : line;
    n = strcspn(start, " \n");
    if (n >= size)
        n = size - 1;
    memcpy(name, start, n);
    name[n] = '\0';
}

static void end_of_case(const char *base, const char *line, int ok)
{
    char dir[4096], name[512];
    FILE *list;

    cases++;
    case_name(line, name, sizeof name);
    (void)snprintf(dir, sizeof dir, "%s/cases", base);
    list = fopen(dir, "a");
    if (list != NULL) {
        (void)fprintf(list, "%04u\t%s\t%s\n", cases, ok ? "ok" : "not ok", name);
        (void)fclose(list);
    }
    (void)snprintf(dir, sizeof dir, "%s/%04u", base, cases);
    (void)setenv("GCOV_PREFIX", dir, 1);
    __gcov_dump();
    __gcov_reset();
    (void)snprintf(dir, sizeof dir, "%s/after", base);
    (void)setenv("GCOV_PREFIX", dir, 1);
}

/* Called by the linker's doing (--wrap=printf), never by name. */
// cppcheck-suppress unusedFunction
int __wrap_printf(const char *format, ...)  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
{
    const char *base = getenv("MEMD_CASE_DIR");
    int ok = strncmp(format, "ok - ", 5) == 0;
    int not_ok = strncmp(format, "not ok - ", 9) == 0;
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, format);
    if (base != NULL && (ok || not_ok)) {
        va_list copy;

        va_copy(copy, ap);
        (void)vsnprintf(line, sizeof line, format, copy);
        va_end(copy);
    }
    n = vprintf(format, ap);
    va_end(ap);
    if (base != NULL && (ok || not_ok)) {
        (void)fflush(stdout);
        end_of_case(base, line, ok);
    }
    return n;
}
