/*
** interrupt.c: Ctrl-C as the qora command takes it (core.on_interrupt, core.ignore_interrupt).
**
** lua5.4 answers SIGINT with an error raised at the main thread's next Lua instruction, and
** puts the default action back, so that a second SIGINT ends the process. A long engine call
** (a folder's conversion, a chunk of the prompt, a save) runs no Lua instruction for seconds
** or minutes: a second Ctrl-C then ended the command without the newline and the --stats an
** interruption writes, and left a save's unfinished file behind. Here the first SIGINT still
** raises the error at the next instruction; a second one, before the command has taken the
** first, writes what the command prepared, removes the unfinished file and exits at once.
** A step whose end the command must report, a save, holds the first SIGINT until it has.
*/
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lqora.h"

#if !defined(INTERRUPT_TEXT_MAX)
#define INTERRUPT_TEXT_MAX 4096
#endif

/* What a second SIGINT writes and removes. */
typedef struct exit_plan {
  char out[INTERRUPT_TEXT_MAX];     /* to stdout */
  char err[INTERRUPT_TEXT_MAX];     /* to stderr */
  size_t n_out, n_err;
  char remove[PATH_MAX];            /* the file to remove, "" for none */
} exit_plan;

/*
** on_interrupt fills the plan not in use, then makes it the current one: a signal that comes
** while it fills one finds the other whole.
*/
static exit_plan plans[2];
static volatile sig_atomic_t current;
static volatile sig_atomic_t n_interrupts;
static volatile sig_atomic_t held;          /* 1: a first SIGINT waits for release_interrupt */
static lua_State *main_thread;


/* Runs at the main thread's next instruction after the first SIGINT. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");      /* the words of lua5.4, which the command looks for */
}


static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, s, n);

    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return;                         /* nowhere to write to: end all the same */
    s += k;
    n -= (size_t)k;
  }
}


/* Async-signal-safe calls only; Lua's ldebug.c allows lua_sethook in a signal handler. */
static void on_sigint(int sig) {
  const exit_plan *p;
  int saved = errno;

  if (n_interrupts++ == 0) {
    if (!held)
      lua_sethook(main_thread, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    errno = saved;
    return;
  }
  p = &plans[current];
  write_all(STDOUT_FILENO, p->out, p->n_out);
  write_all(STDERR_FILENO, p->err, p->n_err);
  if (p->remove[0] != '\0')
    unlink(p->remove);
  _exit(128 + sig);
}


/*
** core.on_interrupt(out, err[, remove]): SIGINT as the qora command takes it, from now on. The
** first one raises "interrupted!" at the main thread's next Lua instruction, as lua5.4 does.
** A second one, before the command has taken the first (it then calls ignore_interrupt),
** writes out to stdout and err to stderr, removes the file remove and ends the process with
** status 128 + SIGINT (130). A later call replaces the three.
*/
static int core_on_interrupt(lua_State *L) {
  size_t n_out, n_err;
  const char *out = lqora_checktext(L, 1, &n_out), *err = lqora_checktext(L, 2, &n_err);
  const char *remove = lua_isnoneornil(L, 3) ? "" : lqora_checkpath(L, 3);
  exit_plan *p = &plans[1 - current];
  struct sigaction sa;

  luaL_argcheck(L, n_out < sizeof p->out, 1, "longer than an interruption writes");
  luaL_argcheck(L, n_err < sizeof p->err, 2, "longer than an interruption writes");
  luaL_argcheck(L, strlen(remove) < sizeof p->remove, 3, "longer than a path");
  memcpy(p->out, out, n_out);
  memcpy(p->err, err, n_err);
  p->n_out = n_out;
  p->n_err = n_err;
  strcpy(p->remove, remove);
  current = 1 - current;

  if (main_thread != NULL)
    return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main_thread = lua_tothread(L, -1);
  lua_pop(L, 1);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;          /* no SA_RESTART: a read waiting for input returns */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  return 0;
}


/* core.ignore_interrupt(): SIGINT is ignored from now on (the command is ending anyway). */
static int core_ignore_interrupt(lua_State *L) {
  struct sigaction sa;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  return 0;
}


/*
** core.hold_interrupt(): a first SIGINT from now on raises nothing; release_interrupt tells of
** it. A step the command must see to its end runs between the two (a save, whose finished
** file the first SIGINT would otherwise hide); a second SIGINT still ends the process.
*/
static int core_hold_interrupt(lua_State *L) {
  held = 1;
  return 0;
}


/*
** core.release_interrupt() -> true when a first SIGINT came while held (the caller then stops
** as "interrupted!" would), else false; SIGINT is taken as before from now on. One that comes
** as the hold ends raises "interrupted!" at the next instruction instead, as unheld ones do.
*/
static int core_release_interrupt(lua_State *L) {
  held = 0;
  lua_pushboolean(L, n_interrupts > 0);
  return 1;
}


void lqora_open_interrupt(lua_State *L) {
  lua_pushcfunction(L, core_on_interrupt);
  lua_setfield(L, -2, "on_interrupt");
  lua_pushcfunction(L, core_ignore_interrupt);
  lua_setfield(L, -2, "ignore_interrupt");
  lua_pushcfunction(L, core_hold_interrupt);
  lua_setfield(L, -2, "hold_interrupt");
  lua_pushcfunction(L, core_release_interrupt);
  lua_setfield(L, -2, "release_interrupt");
}
