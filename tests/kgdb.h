/* tests/kgdb.h: the kernel model's gdb stub (tests/kgdb.c).
 *
 * `kmodel --gdb IMAGE SCENARIO` holds memd for gdb: the stub speaks gdb's
 * remote serial protocol on its standard input and output, so that
 *
 *   gdb -ex 'target remote | exec build/kmodel --gdb build/memd SCENARIO' build/memd
 *
 * debugs the real image while the model plays the scenario.  The stub owns
 * the breakpoints, the registers and memory gdb reads, and the resuming of
 * memd's process; every stop that is no breakpoint and no step of gdb's
 * (a system call, a fault) is the model's, handed to it as a wait status,
 * exactly as the model handles it when no debugger is there.
 */
#ifndef KGDB_H
#define KGDB_H

#include <stdbool.h>
#include <sys/types.h>

/* The model's side. */
struct kgdb_model {
    void *ctx;
    /* memd's process stopped (or ended) with wait status `status`, which is
       not gdb's: carry it out.  Returns whether the run goes on; false when
       the model has ended it (the script is over, memd halted or broke a
       rule, or its process is gone). */
    bool (*event)(void *ctx, int status);
};

/* How a session ended. */
enum kgdb_end {
    KGDB_RUN_OVER,   /* the model ended the run; gdb waits to hear how */
    KGDB_DETACHED,   /* gdb let go: the model runs the rest by itself */
    KGDB_KILLED      /* gdb killed memd, or went away */
};

/* Moves the protocol off the standard input and output (which become
   /dev/null and the standard error), so that nothing the model prints can
   reach gdb.  Call once, before anything is printed. */
bool kgdb_setup(void);

/* Serves gdb for memd's process `pid`, stopped at its entry point with
   the model's registers set, until the session ends.  The breakpoints
   are out of memd's code when it returns. */
enum kgdb_end kgdb_serve(pid_t pid, const struct kgdb_model *m);

/* After the verdict: answers gdb's last request (the exit code, for a
   run the model ended; 0 for a pass), then serves until gdb hangs up. */
void kgdb_finish(int code);

#endif /* KGDB_H */
