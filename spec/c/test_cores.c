/*
** test_cores.c: qora_cores() counts the CPUs of the affinity mask, also past CPU_SETSIZE (1024),
** and falls back to the online processors when the mask cannot be read. This file's own
** sched_getaffinity stands in for the C library's, as the kernel of a machine of 4096 CPUs
** answers: EINVAL for a set too small to hold them.
*/
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "qora.h"
#include "tap.h"

enum { N_CPU = 4096 };

static enum { MASK_BIG, MASK_FAILS, MASK_EMPTY } mode;
static int calls;

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set) {
  calls++;
  if (mode == MASK_FAILS || size * 8 < N_CPU) {
    errno = mode == MASK_FAILS ? ENOSYS : EINVAL;
    return -1;
  }
  memset(set, 0, size);
  if (mode == MASK_BIG) {
    CPU_SET_S(3, size, set);              /* taskset -c 3,1500,4095 */
    CPU_SET_S(1500, size, set);
    CPU_SET_S(N_CPU - 1, size, set);
  }
  return 0;
}


int main(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int got;

  mode = MASK_BIG;
  got = qora_cores();
  TAP_OK(got == 3, "counts the 3 CPUs of a mask on a machine of %d CPUs (got %d)", N_CPU, got);
  TAP_OK(qora_threads_default(0) == 3, "so the default is 3 threads (got %d)",
         qora_threads_default(0));

  mode = MASK_FAILS, calls = 0;
  got = qora_cores();
  TAP_OK(got == online && calls == 1, "takes the %ld online processors when the mask cannot be "
         "read, asking once (got %d, %d calls)", online, got, calls);

  mode = MASK_EMPTY;
  got = qora_cores();
  TAP_OK(got == online, "takes the %ld online processors for an empty mask (got %d)", online,
         got);
  return tap_done();
}
