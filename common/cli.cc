#include "common/cli.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "absl/flags/internal/program_name.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tq {
namespace {

constexpr absl::string_view kVersion = "tq 0.1.0 (protocol v1)";

// Flag definitions live in each binary's main.cc; that is all --help shows.
constexpr absl::string_view kFlagFileFilter = "/main.cc";

void PrintHelpAndExit(absl::string_view usage) {
  std::ostringstream flags;
  absl::flags_internal::FlagsHelp(flags, kFlagFileFilter,
                                  absl::flags_internal::HelpFormat::kHumanReadable,
                                  usage);
  // absl prints "<program>: <usage>"; our usage texts already open with the
  // program's name, so drop absl's copy.
  std::string text = flags.str();
  if (size_t colon = text.find(": "); colon != std::string::npos) {
    const std::string prefix = text.substr(0, colon + 2);
    if (text.compare(colon + 2, prefix.size(), prefix) == 0) text.erase(0, colon + 2);
  }
  // Show flag names the way the README writes them: with dashes.
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view body = absl::StripLeadingAsciiWhitespace(line);
    // absl's trailer advertises --helpfull and --help=substring; our --help
    // already shows every flag of the binary.
    if (absl::StartsWith(body, "Try --helpfull")) break;
    if (absl::StartsWith(body, "--")) {
      std::string fixed(line);
      size_t start = line.size() - body.size() + 2;
      for (size_t i = start; i < fixed.size() && fixed[i] != ' '; ++i) {
        if (fixed[i] == '_') fixed[i] = '-';
      }
      std::cout << fixed << '\n';
    } else if (!absl::StartsWith(body, "Flags from")) {
      std::cout << line << '\n';
    }
  }
  std::exit(0);
}

}  // namespace

std::string FlagOrEnv(std::string flag_value, const char* env) {
  if (!flag_value.empty()) return flag_value;
  const char* value = std::getenv(env);
  return value != nullptr ? value : "";
}

std::string NormalizeFlagDashes(absl::string_view arg) {
  std::string out(arg);
  if (!absl::StartsWith(arg, "--") || arg == "--") return out;
  for (size_t i = 2; i < out.size() && out[i] != '='; ++i) {
    if (out[i] == '-') out[i] = '_';
  }
  return out;
}

std::vector<std::string> ParseFlagsOrExit(int argc, char** argv,
                                          absl::string_view usage) {
  // --help is answered before absl parses (which would set the name).
  absl::flags_internal::SetProgramInvocationName(argv[0]);
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.version_string = [] { return std::string(kVersion) + "\n"; };
  absl::SetFlagsUsageConfig(config);

  std::vector<std::string> storage;
  bool after_terminator = false;
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (i > 0 && !after_terminator) {
      if (arg == "--") after_terminator = true;
      if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
        PrintHelpAndExit(usage);
      }
      if (arg == "--version") {
        std::cout << kVersion << '\n';
        std::exit(0);
      }
      storage.push_back(NormalizeFlagDashes(arg));
    } else {
      storage.emplace_back(arg);
    }
  }
  std::vector<char*> args;
  for (std::string& s : storage) args.push_back(s.data());
  args.push_back(nullptr);
  std::vector<char*> rest = absl::ParseCommandLine(argc, args.data());
  return std::vector<std::string>(rest.begin() + 1, rest.end());
}

}  // namespace tq
