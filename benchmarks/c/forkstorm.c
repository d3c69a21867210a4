/* forkstorm: COUNT fork+exec of /bin/true, INFLIGHT children at a time, as fast as the machine allows.
 *
 *   forkstorm COUNT [INFLIGHT] [fork|vfork]
 *
 * Used by benchmarks/proctree.py (the process tree under a fork/exec storm). Children are started with
 * fork (default) or vfork, then execve("/bin/true"), and reaped with waitpid. Prints one line:
 * started=N ok=N failed=N seconds=S rate=R.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *const child_argv[] = {"true", NULL};
static char *const child_envp[] = {"PATH=/usr/bin:/bin", NULL};

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: forkstorm COUNT [INFLIGHT] [fork|vfork]\n");
        return 2;
    }
    long count = atol(argv[1]);
    int inflight = argc > 2 ? atoi(argv[2]) : 2;
    int use_vfork = argc > 3 && strcmp(argv[3], "vfork") == 0;
    long started = 0, ok = 0, failed = 0, running = 0;
    double t0 = now();
    while (started < count || running > 0) {
        while (started < count && running < inflight) {
            pid_t pid = use_vfork ? vfork() : fork();
            if (pid == 0) {
                execve("/bin/true", child_argv, child_envp);
                _exit(127);
            }
            if (pid < 0) {
                failed++;
                break;
            }
            started++;
            running++;
        }
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid > 0) {
            running--;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                ok++;
            else
                failed++;
        } else if (running == 0 && started >= count) {
            break;
        }
    }
    double elapsed = now() - t0;
    printf("started=%ld ok=%ld failed=%ld seconds=%.3f rate=%.1f\n", started, ok, failed, elapsed, ok / elapsed);
    return 0;
}
