// Command-line parsing shared by tq-broker, tq-worker and tq-client, over
// absl flags (ABSL_FLAG lives only in each binary's main.cc):
//   * flags may be written with dashes (--chunk-size) or underscores;
//   * --help / -h prints the usage text and the binary's flags, exits 0;
//   * --version prints the version, exits 0;
//   * an unknown flag or bad flag value is absl's error on stderr, exit 1.
#ifndef TQ_COMMON_CLI_H_
#define TQ_COMMON_CLI_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tq {

// Exit codes shared by the binaries (README "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;        // bad flags, arguments or input
inline constexpr int kExitJobFailed = 2;    // the cluster could not finish
inline constexpr int kExitUnavailable = 3;  // broker unreachable or lost
inline constexpr int kExitInterrupted = 130;

// Parses argv; returns the positional arguments (argv[0] excluded).
// `usage` is printed first by --help. Exits as described above.
std::vector<std::string> ParseFlagsOrExit(int argc, char** argv,
                                          absl::string_view usage);

// A flag's value, or when it is empty the environment variable `env` (e.g.
// --broker falls back to $TQ_BROKER), or "".
std::string FlagOrEnv(std::string flag_value, const char* env);

// "--chunk-size=5" -> "--chunk_size=5"; values and positionals untouched;
// everything after a bare "--" untouched. Exposed for tests.
std::string NormalizeFlagDashes(absl::string_view arg);

}  // namespace tq

#endif  // TQ_COMMON_CLI_H_
