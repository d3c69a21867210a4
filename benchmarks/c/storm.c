/* storm: TCP connects to a local listener as fast as one process can, as an unprivileged user.
 *
 *   storm UID GID COUNT SECONDS
 *
 * Listens on 127.0.0.1 (an ephemeral port), forks an acceptor that accepts and closes, drops privileges
 * (setgroups, setgid, setuid), then connects in a loop: socket, SO_LINGER {1, 0} (the close sends RST, so
 * no TIME_WAIT and no ephemeral port exhaustion), connect, close. Stops after COUNT connects (COUNT > 0) or
 * SECONDS, whichever is first. Prints one line: connects=N failed=N seconds=S rate=R.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: storm UID GID COUNT SECONDS\n");
        return 2;
    }
    uid_t uid = (uid_t)atol(argv[1]);
    gid_t gid = (gid_t)atol(argv[2]);
    long count = atol(argv[3]);
    double seconds = atof(argv[4]);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen)) {
        perror("storm: listener");
        return 2;
    }
    if (setgroups(0, NULL) || setgid(gid) || setuid(uid)) {
        perror("storm: dropping privileges");
        return 2;
    }
    pid_t acceptor = fork();
    if (acceptor == 0) {
        for (;;) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                close(c);
        }
    }
    close(lfd);
    struct linger lg = {1, 0};
    long ok = 0, failed = 0;
    double t0 = now(), end = t0 + seconds, t = t0;
    for (long i = 0; count <= 0 || i < count; i++) {
        if ((i & 255) == 0 && (t = now()) >= end)
            break;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            failed++;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            ok++;
        else
            failed++;
        close(fd);
    }
    double elapsed = now() - t0;
    kill(acceptor, SIGKILL);
    waitpid(acceptor, NULL, 0);
    printf("connects=%ld failed=%ld seconds=%.3f rate=%.1f\n", ok, failed, elapsed, (ok + failed) / elapsed);
    return 0;
}
