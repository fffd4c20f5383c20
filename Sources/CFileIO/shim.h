#ifndef SLUICE_CFILEIO_SHIM_H
#define SLUICE_CFILEIO_SHIM_H
#if defined(__linux__)
#include <sys/types.h>

// glibc declares sync_file_range(2) and its flags only under _GNU_SOURCE, which Swift's Glibc
// module is built without. The declaration is glibc's own (<fcntl.h>, since glibc 2.6).
extern int sync_file_range(int fd, __off64_t offset, __off64_t count, unsigned int flags);

/// Starts writing back the dirty pages of [offset, offset + count) without waiting.
static inline int sluice_start_writeback(int fd, long long offset, long long count) {
    return sync_file_range(fd, offset, count, 2 /* SYNC_FILE_RANGE_WRITE */);
}

// The pseudo-terminal calls the end-to-end tests use to run sluice as on a terminal; glibc
// declares them only under _XOPEN_SOURCE. The declarations are glibc's own (<stdlib.h>).
extern int posix_openpt(int flags);
extern int grantpt(int fd);
extern int unlockpt(int fd);
extern int ptsname_r(int fd, char *buf, size_t buflen);

#endif
#endif
