// tq-keygen: makes a CurveZMQ key pair in ZeroMQ's Z85 form, as DIR/NAME.key
// (secret and public key, mode 0600) and DIR/NAME.pub (public key). It never
// overwrites a file. The broker gets NAME.key of its own pair and the .pub
// files of the clients and workers it allows; each client or worker gets its
// own NAME.key and the broker's .pub.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "common/cli.h"
#include "common/curve.h"

ABSL_FLAG(std::string, out_dir, ".",
          "directory for NAME.key and NAME.pub (created if missing)");

namespace {

constexpr char kUsage[] =
    "tq-keygen: makes a CurveZMQ key pair for tq.\n\n"
    "Usage: tq-keygen NAME [--out-dir=DIR]\n\n"
    "Writes DIR/NAME.key (secret key, mode 0600: give it only to NAME) and\n"
    "DIR/NAME.pub (public key). Refuses to overwrite either. Example:\n"
    "  tq-keygen broker --out-dir=keys\n"
    "  tq-keygen alice --out-dir=keys/clients\n"
    "  tq-keygen worker1 --out-dir=keys/workers";

// Names become file names and User-Ids in broker logs: keep them plain.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args = tq::ParseFlagsOrExit(argc, argv, kUsage);
  if (args.size() != 1) {
    fprintf(stderr, "tq-keygen: give exactly one NAME (see --help)\n");
    return tq::kExitUsage;
  }
  const std::string& name = args[0];
  if (!ValidName(name)) {
    fprintf(stderr,
            "tq-keygen: NAME '%s' must be 1-64 of [A-Za-z0-9._-], not starting "
            "with '.' or '-'\n",
            name.c_str());
    return tq::kExitUsage;
  }
  const std::string dir = absl::GetFlag(FLAGS_out_dir);
  if (dir.empty()) {
    fprintf(stderr, "tq-keygen: --out-dir is empty\n");
    return tq::kExitUsage;
  }
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "tq-keygen: cannot create directory '%s': %s\n",
            dir.c_str(), strerror(errno));
    return tq::kExitUsage;
  }
  absl::StatusOr<tq::CurveKeyPair> pair = tq::NewCurveKeyPair();
  if (!pair.ok()) {
    fprintf(stderr, "tq-keygen: %s\n", std::string(pair.status().message()).c_str());
    return tq::kExitUnavailable;
  }
  if (absl::Status s = tq::WriteCurveKeyFiles(dir, name, *pair); !s.ok()) {
    fprintf(stderr, "tq-keygen: %s\n", std::string(s.message()).c_str());
    return tq::kExitUsage;
  }
  printf("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\npublic key: %s\n",
         dir.c_str(), name.c_str(), dir.c_str(), name.c_str(),
         pair->public_key.c_str());
  return tq::kExitOk;
}
