/*
 * Stands in for syslog(3) in a process that LD_PRELOADs it, so a test can
 * read what PowerShell writes to the system log without touching /dev/log
 * (test/powershell/Logging.Tests.ps1). Every message is appended to the file
 * named by AZMI_SYSLOG_FILE as one record: "<<azmi-syslog len=N>>", the
 * message, a newline. Each record is one write() on a file opened with
 * O_APPEND, so records of concurrent threads (and processes) stay whole.
 * Without AZMI_SYSLOG_FILE messages are dropped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void record(const char *format, va_list args) {
  const char *path = getenv("AZMI_SYSLOG_FILE");
  if (path == NULL) return;
  char *message = NULL;
  int length = vasprintf(&message, format, args);
  if (length < 0) return;
  char *line = NULL;
  int total = asprintf(&line, "<<azmi-syslog len=%d>>%s\n", length, message);
  free(message);
  if (total < 0) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ssize_t ignored = write(fd, line, (size_t)total);
    (void)ignored;
    close(fd);
  }
  free(line);
}

void openlog(const char *ident, int option, int facility) {
  (void)ident;
  (void)option;
  (void)facility;
}

void closelog(void) {}

void vsyslog(int priority, const char *format, va_list args) {
  (void)priority;
  record(format, args);
}

void syslog(int priority, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsyslog(priority, format, args);
  va_end(args);
}

/* What glibc's fortified headers turn syslog into. */
void __vsyslog_chk(int priority, int flag, const char *format, va_list args) {
  (void)flag;
  vsyslog(priority, format, args);
}

void __syslog_chk(int priority, int flag, const char *format, ...) {
  (void)flag;
  va_list args;
  va_start(args, format);
  vsyslog(priority, format, args);
  va_end(args);
}
