/* loadgen: fork+exec /bin/true at a fixed rate, or as fast as possible, as an unprivileged user.
 *
 *   loadgen UID GID RATE SECONDS [INFLIGHT]
 *
 * RATE > 0: start one /bin/true every 1/RATE s on an absolute schedule (clock_nanosleep TIMER_ABSTIME, so
 *           pacing errors do not accumulate); a start that is late goes at once and the lateness is reported.
 * RATE = 0: the machine's maximum: keep INFLIGHT (default 2) children running, start the next as one ends.
 *
 * The privileges are dropped (setgroups, setgid, setuid) before anything is started, so the only audited
 * execve calls are those of the children (no setpriv/runuser exec of our own). Children are started with
 * vfork+execve and reaped with waitpid. Prints one line: execs=N failed=N seconds=S rate=R late_max_us=L
 * late_over_1ms=N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
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

static int spawn(void) {
    pid_t pid = vfork();
    if (pid == 0) {
        execve("/bin/true", child_argv, child_envp);
        _exit(127);
    }
    return pid > 0 ? 0 : -1;
}

static long ok_count, failed;

static int reap(int options) {
    int st;
    pid_t pid = waitpid(-1, &st, options);
    if (pid <= 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        ok_count++;
    else
        failed++;
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: loadgen UID GID RATE SECONDS [INFLIGHT]\n");
        return 2;
    }
    uid_t uid = (uid_t)atol(argv[1]);
    gid_t gid = (gid_t)atol(argv[2]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int inflight = argc > 5 ? atoi(argv[5]) : 2;
    if (setgroups(0, NULL) || setgid(gid) || setuid(uid)) {
        perror("loadgen: dropping privileges");
        return 2;
    }
    long started = 0, running = 0, late_1ms = 0;
    double late_max = 0;
    double t0 = now(), end = t0 + seconds;
    if (rate > 0) {
        long total = (long)(rate * seconds + 0.5);
        struct timespec base;
        clock_gettime(CLOCK_MONOTONIC, &base);
        for (long i = 0; i < total; i++) {
            double offset = i / rate;
            struct timespec due = base;
            due.tv_sec += (time_t)offset;
            due.tv_nsec += (long)((offset - (time_t)offset) * 1e9);
            if (due.tv_nsec >= 1000000000L) {
                due.tv_sec++;
                due.tv_nsec -= 1000000000L;
            }
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
            }
            double late = now() - (base.tv_sec + base.tv_nsec / 1e9 + offset);
            if (late > late_max)
                late_max = late;
            if (late > 1e-3)
                late_1ms++;
            if (spawn() == 0) {
                started++;
                running++;
            } else {
                failed++;
            }
            while (running > 0 && reap(WNOHANG))
                running--;
        }
    } else {
        while (now() < end) {
            while (running < inflight && spawn() == 0) {
                started++;
                running++;
            }
            if (running > 0 && reap(0))
                running--;
        }
    }
    double elapsed = now() - t0;
    while (running > 0 && reap(0))
        running--;
    printf("execs=%ld failed=%ld seconds=%.3f rate=%.1f late_max_us=%.0f late_over_1ms=%ld\n", ok_count,
           failed, elapsed, ok_count / elapsed, late_max * 1e6, late_1ms);
    return 0;
}
