#include "common/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

// Stable in libzmq 4.3 but declared only under the draft API in zmq.h.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

namespace tq {
namespace {

constexpr char kZ85Alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ".-:+=^!/*?&<>()[]{}@%$#";
// Key files are tiny; anything bigger is not one.
constexpr off_t kMaxKeyFileBytes = 64 << 10;
// A CURVE handshake that has not finished in this time is dropped, so a
// stuck peer is reported instead of waiting forever.
constexpr int kHandshakeIvlMs = 5000;
constexpr int kReconnectIvlMaxMs = 5000;

struct KeyFileText {
  std::string text;
  mode_t mode = 0;
};

absl::Status ErrnoStatus(int err, const std::string& path,
                         absl::string_view what) {
  std::string message = absl::StrCat(what, " '", path, "': ", strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM)
    return absl::PermissionDeniedError(message);
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<KeyFileText> ReadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, path, "cannot read CURVE key file");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("CURVE key file '", path, "' is not a regular file"));
  }
  if (st.st_size > kMaxKeyFileBytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("CURVE key file '", path, "' is ", st.st_size,
                     " bytes long: not a key file"));
  }
  KeyFileText file;
  file.mode = st.st_mode & 07777;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus(err, path, "cannot read CURVE key file");
    }
    if (n == 0) break;
    file.text.append(buffer, n);
  }
  close(fd);
  return file;
}

// The fields of a key file: "public-key" / "secret-key" values, and a bare
// key line under "" (see curve.h for the format).
absl::flat_hash_map<std::string, std::string> ParseKeyFields(
    const std::string& text) {
  absl::flat_hash_map<std::string, std::string> fields;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty()) continue;
    // '#' and '=' are Z85 characters: a whole line that is a key is a key.
    if (IsZ85Key(line)) {
      fields.emplace("", line);
      continue;
    }
    if (line[0] == '#' || line == "metadata" || line == "curve") continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      fields.emplace("", line);  // a malformed bare key: reported by length
      continue;
    }
    std::string name = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(absl::string_view(line).substr(0, eq)));
    std::replace(name.begin(), name.end(), '_', '-');
    std::string value(
        absl::StripAsciiWhitespace(absl::string_view(line).substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    fields.emplace(name, value);
  }
  return fields;
}

absl::Status CheckZ85Key(const std::string& key, const std::string& path,
                         absl::string_view which) {
  if (key.size() != kCurveKeyZ85Length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CURVE key file '", path, "': the ", which, " is ", key.size(),
        " characters long; a Z85 CURVE key has ", kCurveKeyZ85Length));
  }
  if (!IsZ85Key(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CURVE key file '", path, "': the ", which,
                     " is not Z85 text (as tq-keygen writes)"));
  }
  return absl::OkStatus();
}

absl::Status SetOption(zmq::socket_t& socket, int option, const void* value,
                       size_t size, absl::string_view name) {
  if (zmq_setsockopt(socket.handle(), option, value, size) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot set ", name, ": ", zmq_strerror(zmq_errno())));
  }
  return absl::OkStatus();
}

absl::Status SetIntOption(zmq::socket_t& socket, int option, int value,
                          absl::string_view name) {
  return SetOption(socket, option, &value, sizeof value, name);
}

absl::Status WriteNewFile(const std::string& path, const std::string& text,
                          mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("'", path, "' exists; not overwriting it"));
    }
    return ErrnoStatus(errno, path, "cannot create");
  }
  // The umask may have taken bits away (or the caller's may add none): set
  // exactly what we mean.
  bool ok = fchmod(fd, mode) == 0 && write(fd, text.data(), text.size()) ==
                                         static_cast<ssize_t>(text.size());
  int err = errno;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    unlink(path.c_str());
    return ErrnoStatus(err, path, "cannot write");
  }
  return absl::OkStatus();
}

}  // namespace

bool IsZ85Key(const std::string& text) {
  if (text.size() != kCurveKeyZ85Length) return false;
  for (char c : text) {
    if (c == '\0' || strchr(kZ85Alphabet, c) == nullptr) return false;
  }
  uint8_t decoded[32];
  return zmq_z85_decode(decoded, text.c_str()) != nullptr;
}

absl::StatusOr<CurveKeyPair> NewCurveKeyPair() {
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot make a CURVE key pair (is libzmq built with CURVE?): ",
        zmq_strerror(zmq_errno())));
  }
  return CurveKeyPair{public_key, secret_key};
}

absl::Status WriteCurveKeyFiles(const std::string& dir, const std::string& name,
                                const CurveKeyPair& pair) {
  const std::string key_path = absl::StrCat(dir, "/", name, ".key");
  const std::string pub_path = absl::StrCat(dir, "/", name, ".pub");
  for (const std::string& path : {key_path, pub_path}) {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("'", path, "' exists; not overwriting it"));
    }
  }
  const std::string public_line =
      absl::StrCat("public-key = \"", pair.public_key, "\"\n");
  TQ_RETURN_IF_ERROR(WriteNewFile(
      key_path,
      absl::StrCat("# tq CURVE secret key of '", name,
                   "' (Z85), made by tq-keygen. Keep it private.\n",
                   public_line, "secret-key = \"", pair.secret_key, "\"\n"),
      0600));
  absl::Status s =
      WriteNewFile(pub_path,
                   absl::StrCat("# tq CURVE public key of '", name,
                                "' (Z85), made by tq-keygen.\n", public_line),
                   0644);
  if (!s.ok()) unlink(key_path.c_str());
  return s;
}

absl::StatusOr<std::string> LoadCurvePublicKey(const std::string& path) {
  absl::StatusOr<KeyFileText> file = ReadKeyFile(path);
  if (!file.ok()) return file.status();
  auto fields = ParseKeyFields(file->text);
  if (fields.contains("secret-key")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "' holds a secret key; give the public key (.pub) file"));
  }
  std::string key;
  if (auto it = fields.find("public-key"); it != fields.end()) {
    key = it->second;
  } else if (auto bare = fields.find(""); bare != fields.end()) {
    key = bare->second;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("CURVE key file '", path, "' holds no public key"));
  }
  TQ_RETURN_IF_ERROR(CheckZ85Key(key, path, "public key"));
  return key;
}

absl::StatusOr<CurveKeyPair> LoadCurveSecretKey(const std::string& path,
                                                std::string* warning) {
  absl::StatusOr<KeyFileText> file = ReadKeyFile(path);
  if (!file.ok()) return file.status();
  if (file->mode & S_IROTH) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "secret key file '%s' is readable by other users (mode %04o); "
        "refusing it: chmod 600 it (Kubernetes: defaultMode 0400)",
        path, file->mode));
  }
  if ((file->mode & S_IRGRP) && warning != nullptr) {
    *warning = absl::StrFormat(
        "warning: secret key file '%s' is readable by its group (mode %04o)",
        path, file->mode);
  }
  auto fields = ParseKeyFields(file->text);
  CurveKeyPair pair;
  if (auto it = fields.find("secret-key"); it != fields.end()) {
    pair.secret_key = it->second;
  } else if (auto bare = fields.find("");
             bare != fields.end() && !fields.contains("public-key")) {
    pair.secret_key = bare->second;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "CURVE key file '", path,
        "' holds no secret key (give the .key file tq-keygen wrote, not "
        "the .pub)"));
  }
  TQ_RETURN_IF_ERROR(CheckZ85Key(pair.secret_key, path, "secret key"));
  char derived[41];
  if (zmq_curve_public(derived, pair.secret_key.c_str()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CURVE key file '", path,
        "': cannot derive the public key: ", zmq_strerror(zmq_errno())));
  }
  pair.public_key = derived;
  if (auto it = fields.find("public-key");
      it != fields.end() && it->second != pair.public_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("CURVE key file '", path,
                     "': its public key does not belong to its secret key"));
  }
  return pair;
}

absl::StatusOr<CurveAllowlist> LoadCurveAllowlist(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("CURVE key directory '", dir, "' does not exist"));
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string file_name = path.filename().string();
    // Kubernetes mounts keep their real files in "..data/": skip dot files.
    if (file_name.empty() || file_name[0] == '.') continue;
    if (path.extension() != ".pub") continue;
    files.push_back(path);
  }
  if (ec) {
    return ErrnoStatus(ec.value(), dir, "cannot list CURVE key directory");
  }
  std::sort(files.begin(), files.end());
  CurveAllowlist allowlist;
  for (const fs::path& path : files) {
    absl::StatusOr<std::string> key = LoadCurvePublicKey(path.string());
    if (!key.ok()) return key.status();
    allowlist.emplace(*key, path.stem().string());
  }
  return allowlist;
}

absl::StatusOr<std::optional<CurveClientKeys>> LoadCurveClientKeys(
    const std::string& key_file, const std::string& server_key_file,
    std::string* warning) {
  if (key_file.empty() && server_key_file.empty()) return std::nullopt;
  if (key_file.empty() || server_key_file.empty()) {
    return absl::InvalidArgumentError(
        "CURVE needs both our key (--curve-key, TQ_CURVE_KEY) and the "
        "broker's public key (--curve-server-key, TQ_CURVE_SERVER_KEY)");
  }
  CurveClientKeys keys;
  absl::StatusOr<CurveKeyPair> own = LoadCurveSecretKey(key_file, warning);
  if (!own.ok()) return own.status();
  keys.own = *std::move(own);
  absl::StatusOr<std::string> server = LoadCurvePublicKey(server_key_file);
  if (!server.ok()) return server.status();
  keys.server_public_key = *std::move(server);
  return keys;
}

absl::Status ApplyCurveServer(zmq::socket_t& socket, const CurveKeyPair& own) {
  TQ_RETURN_IF_ERROR(SetIntOption(socket, ZMQ_CURVE_SERVER, 1, "CURVE server"));
  TQ_RETURN_IF_ERROR(SetOption(socket, ZMQ_CURVE_SECRETKEY,
                               own.secret_key.data(), own.secret_key.size(),
                               "CURVE secret key"));
  TQ_RETURN_IF_ERROR(SetOption(socket, ZMQ_ZAP_DOMAIN, kCurveZapDomain,
                               strlen(kCurveZapDomain), "ZAP domain"));
  // Fail closed: without this, a missing ZAP handler lets every peer in.
  TQ_RETURN_IF_ERROR(SetIntOption(socket, ZMQ_ZAP_ENFORCE_DOMAIN, 1,
                                  "ZMQ_ZAP_ENFORCE_DOMAIN"));
  return SetIntOption(socket, ZMQ_HANDSHAKE_IVL, kHandshakeIvlMs,
                      "handshake interval");
}

absl::Status ApplyCurveClient(zmq::socket_t& socket,
                              const CurveClientKeys& keys) {
  const CurveKeyPair& own = keys.own;
  TQ_RETURN_IF_ERROR(
      SetOption(socket, ZMQ_CURVE_SERVERKEY, keys.server_public_key.data(),
                keys.server_public_key.size(), "CURVE server key"));
  TQ_RETURN_IF_ERROR(SetOption(socket, ZMQ_CURVE_PUBLICKEY,
                               own.public_key.data(), own.public_key.size(),
                               "CURVE public key"));
  TQ_RETURN_IF_ERROR(SetOption(socket, ZMQ_CURVE_SECRETKEY,
                               own.secret_key.data(), own.secret_key.size(),
                               "CURVE secret key"));
  // A refused peer is retried with back-off, not ten times a second.
  TQ_RETURN_IF_ERROR(SetIntOption(socket, ZMQ_RECONNECT_IVL_MAX,
                                  kReconnectIvlMaxMs, "reconnect back-off"));
  return SetIntOption(socket, ZMQ_HANDSHAKE_IVL, kHandshakeIvlMs,
                      "handshake interval");
}

}  // namespace tq
