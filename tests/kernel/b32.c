/* i386 actor for tests/kernel/test_e2e.py: freestanding (no libc: the host has no 32-bit libc), raw int 0x80. */
typedef unsigned short u16;
static long sc(long n, long a, long b, long c, long d, long e) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
    return r;
}
#define NR_exit 1
#define NR_write 4
#define NR_execve 11
#define NR_getpid 20
#define NR_socket 359
#define NR_bind 361
#define NR_connect 362
#define NR_listen 363
#define NR_accept4 364
#define NR_execveat 358
struct sin { u16 family; u16 port; unsigned addr; char zero[8]; };
static long num(const char *s) { long v = 0; while (*s) v = v * 10 + (*s++ - '0'); return v; }
static int streq(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }
static void put(long v) {
    char buf[24]; int i = 23; buf[i] = '\n';
    int neg = v < 0; if (neg) v = -v;
    do { buf[--i] = '0' + v % 10; v /= 10; } while (v);
    if (neg) buf[--i] = '-';
    sc(NR_write, 1, (long)(buf + i), 24 - i, 0, 0);
}
/* b32 ACTION MARKER ARGS...: exec PATH ARG (execve), sock PORT (bind, listen, connect to self, accept4) */
int cmain(long *sp) {
    long argc = sp[0]; char **argv = (char **)(sp + 1); char **envp = argv + argc + 1;
    put(sc(NR_getpid, 0, 0, 0, 0, 0));
    if (argc >= 5 && streq(argv[1], "exec")) {
        char *args[] = {argv[3], argv[4], 0};
        put(sc(NR_execve, (long)argv[3], (long)args, (long)envp, 0, 0));
    } else if (argc >= 5 && streq(argv[1], "execveat")) {
        char *args[] = {argv[3], argv[4], 0};
        put(sc(NR_execveat, -100, (long)argv[3], (long)args, (long)envp, 0));
    } else if (argc >= 4 && streq(argv[1], "sock")) {
        long port = num(argv[3]);
        struct sin a = {2, (u16)(((port & 0xff) << 8) | (port >> 8)), 0x0100007f, {0}};
        long srv = sc(NR_socket, 2, 1, 0, 0, 0);
        put(sc(NR_bind, srv, (long)&a, sizeof a, 0, 0));
        sc(NR_listen, srv, 4, 0, 0, 0);
        long cli = sc(NR_socket, 2, 1, 0, 0, 0);
        put(sc(NR_connect, cli, (long)&a, sizeof a, 0, 0));
        struct sin peer; long len = sizeof peer;
        put(sc(NR_accept4, srv, (long)&peer, (long)&len, 0, 0));
        put(((peer.port & 0xff) << 8) | (peer.port >> 8));
    }
    sc(NR_exit, 0, 0, 0, 0, 0);
    return 0;
}
__asm__(".globl _start\n_start:\n xor %ebp,%ebp\n mov %esp,%eax\n and $-16,%esp\n sub $12,%esp\n push %eax\n"
        " call cmain\n hlt\n");
