#define _GNU_SOURCE
#include "CFuzzSupport.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static _Atomic size_t current_bytes = 0;
static _Atomic size_t peak_bytes = 0;

static void count_added(void *p) {
    if (p == NULL) return;
    size_t now = atomic_fetch_add(&current_bytes, malloc_usable_size(p)) + malloc_usable_size(p);
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {}
}

static void count_removed(void *p) {
    if (p != NULL) atomic_fetch_sub(&current_bytes, malloc_usable_size(p));
}

void *malloc(size_t size) {
    void *p = __libc_malloc(size);
    count_added(p);
    return p;
}

void *calloc(size_t n, size_t size) {
    void *p = __libc_calloc(n, size);
    count_added(p);
    return p;
}

void *realloc(void *old, size_t size) {
    size_t before = old ? malloc_usable_size(old) : 0;
    void *p = __libc_realloc(old, size);
    if (p == NULL) return NULL;  // old (if any) is untouched
    atomic_fetch_sub(&current_bytes, before);
    count_added(p);
    return p;
}

void free(void *p) {
    count_removed(p);
    __libc_free(p);
}

void *memalign(size_t alignment, size_t size) {
    void *p = __libc_memalign(alignment, size);
    count_added(p);
    return p;
}

void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

size_t fuzz_alloc_current(void) { return atomic_load(&current_bytes); }
size_t fuzz_alloc_peak(void) { return atomic_load(&peak_bytes); }
void fuzz_alloc_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&current_bytes)); }

// The current input, copied outside the handlers (which only write it out).
static uint8_t *input_bytes = NULL;
static size_t input_capacity = 0;
static volatile size_t input_count = 0;
static char report_path[4096] = "fuzz-crash.bin";

void fuzz_set_current(const uint8_t *bytes, size_t count, const char *path) {
    if (count > input_capacity) {
        __libc_free(input_bytes);
        input_bytes = __libc_malloc(count);
        input_capacity = input_bytes ? count : 0;
    }
    input_count = input_bytes ? count : 0;
    if (count > 0 && input_bytes) memcpy(input_bytes, bytes, count);
    strncpy(report_path, path, sizeof(report_path) - 1);
}

static void write_text(const char *text) {
    ssize_t ignored = write(2, text, strlen(text));
    (void)ignored;
}

static void report(int signal_number) {
    int fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t done = 0;
        while (done < input_count) {
            ssize_t n = write(fd, input_bytes + done, input_count - done);
            if (n <= 0) break;
            done += (size_t)n;
        }
        close(fd);
    }
    write_text(signal_number == SIGALRM ? "\nplateau-fuzz: HANG (time budget exceeded); input written to "
                                        : "\nplateau-fuzz: CRASH (fatal signal); input written to ");
    write_text(report_path);
    write_text("\n");
}

static void on_fatal(int signal_number) {
    report(signal_number);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void on_alarm(int signal_number) {
    report(signal_number);
    _exit(3);
}

void fuzz_install_handlers(void) {
    int fatal[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) signal(fatal[i], on_fatal);
    signal(SIGALRM, on_alarm);
}

void fuzz_alarm(unsigned seconds) { alarm(seconds); }
