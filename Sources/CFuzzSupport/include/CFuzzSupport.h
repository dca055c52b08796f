// Support for plateau-fuzz: allocation accounting and crash/hang reports.
//
// Allocation: this target defines malloc, calloc, realloc, free and the aligned allocators
// for the plateau-fuzz executable only (the executable's definitions take precedence over
// the C library's for the whole process), forwarding to glibc's __libc_* entry points and
// counting the bytes in use (malloc_usable_size) and their peak.
//
// Reports: fuzz_install_handlers sets handlers for fatal signals (a Swift trap is SIGILL or
// SIGTRAP) and SIGALRM (the per-input time budget). A handler writes the current input
// (registered by fuzz_set_current) to the report file, a line on standard error, and exits.
#include <stddef.h>
#include <stdint.h>

size_t fuzz_alloc_current(void);
size_t fuzz_alloc_peak(void);
// Sets the peak to the current count (call before an input).
void fuzz_alloc_reset_peak(void);

// Where a crashing input is written.
void fuzz_install_handlers(void);
// Copies the input about to be read and the path its report would go to.
void fuzz_set_current(const uint8_t *bytes, size_t count, const char *report_path);
// Arms (seconds > 0) or disarms (0) the per-input time budget.
void fuzz_alarm(unsigned seconds);
