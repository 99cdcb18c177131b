// getpid() answers the kernel's pid, in a process and in its forked child.
// Executables that link libzmq.a take getpid from common/cached_getpid.cc
// (cmake/StaticDeps.cmake), which caches it; this test is one of them
// (elsewhere, e.g. in the sanitizer trees, it checks glibc's getpid).
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace tq {
namespace {

pid_t KernelPid() { return static_cast<pid_t>(syscall(SYS_getpid)); }

TEST(CachedGetpidTest, IsTheKernelsPidInTheParentAndInAForkedChild) {
  EXPECT_EQ(getpid(), KernelPid());
  const pid_t parent = getpid();  // cached by now
  EXPECT_EQ(parent, KernelPid());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child's own pid, not the parent's cached one; only
    // async-signal-safe calls here, the verdict in the exit code.
    _exit(getpid() == KernelPid() && getpid() != parent ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the forked child saw another pid";
  EXPECT_EQ(getpid(), parent);
}

}  // namespace
}  // namespace tq
