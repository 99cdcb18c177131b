// Stand-ins for the OpenPGM and NORM functions libzmq.a refers to, linked
// into executables that take libzmq from its archive (cmake/StaticDeps.cmake)
// in place of libpgm, libnorm and NORM's ProtoKit.
//
// Why: Debian's libzmq is built with the pgm, epgm and norm transports, so
// its archive needs these symbols, but those are multicast transports, which
// libzmq refuses for every socket type but PUB, SUB, XPUB and XSUB
// ("The protocol is not compatible with the socket type", before any of
// this code runs); tq has only ROUTER and DEALER sockets.
// tests/integration/bad_flags_test.cc checks that refusal for each of the
// three, through tq-client and tq-broker. What libzmq does call is the
// library set-up and tear-down of every context, pgm_init and pgm_shutdown:
// here they succeed doing nothing. The real pgm_init was ~4 % of the CPU of
// a small tq-client job (probing CPU features, reading /etc/protocols and
// nsswitch.conf), and NORM's C++ static initialisers ran in every process.
//
// Should another be called after all, it says so and aborts: it has no
// state or handle to answer with.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

[[noreturn]] void Unreachable(const char* function) {
  fprintf(stderr,
          "tq: libzmq called %s, but this build has no multicast transports "
          "(pgm, epgm, norm), which tq's sockets cannot use\n",
          function);
  abort();
}

}  // namespace

extern "C" {

// OpenPGM's engine (pgm/engine.h): libzmq's context calls these once each.
struct pgm_error_t;
bool pgm_init(pgm_error_t** /*error*/) { return true; }
bool pgm_shutdown() { return true; }

// The rest of what libzmq.a refers to. The C symbols carry no types, and
// none of these is ever called (see above), so each is a plain function
// that aborts; the data are the sentinels NORM's header declares.
#define TQ_UNREACHABLE(function) \
  void function() { Unreachable(#function); }

TQ_UNREACHABLE(pgm_bind3)
TQ_UNREACHABLE(pgm_close)
TQ_UNREACHABLE(pgm_connect)
TQ_UNREACHABLE(pgm_error_free)
TQ_UNREACHABLE(pgm_free)
TQ_UNREACHABLE(pgm_freeaddrinfo)
TQ_UNREACHABLE(pgm_getaddrinfo)
TQ_UNREACHABLE(pgm_getsockopt)
TQ_UNREACHABLE(pgm_gsi_create_from_data)
TQ_UNREACHABLE(pgm_recvmsgv)
TQ_UNREACHABLE(pgm_send)
TQ_UNREACHABLE(pgm_setsockopt)
TQ_UNREACHABLE(pgm_socket)

TQ_UNREACHABLE(NormCreateInstance)
TQ_UNREACHABLE(NormCreateSession)
TQ_UNREACHABLE(NormDestroyInstance)
TQ_UNREACHABLE(NormDestroySession)
TQ_UNREACHABLE(NormGetDescriptor)
TQ_UNREACHABLE(NormGetNextEvent)
TQ_UNREACHABLE(NormGetRandomSessionId)
TQ_UNREACHABLE(NormIsUnicastAddress)
TQ_UNREACHABLE(NormNodeDelete)
TQ_UNREACHABLE(NormObjectGetType)
TQ_UNREACHABLE(NormObjectGetUserData)
TQ_UNREACHABLE(NormObjectSetUserData)
TQ_UNREACHABLE(NormSetCongestionControl)
TQ_UNREACHABLE(NormSetDefaultSyncPolicy)
TQ_UNREACHABLE(NormSetDefaultUnicastNack)
TQ_UNREACHABLE(NormSetLoopback)
TQ_UNREACHABLE(NormSetMulticastInterface)
TQ_UNREACHABLE(NormSetRxPortReuse)
TQ_UNREACHABLE(NormSetTTL)
TQ_UNREACHABLE(NormStartReceiver)
TQ_UNREACHABLE(NormStartSender)
TQ_UNREACHABLE(NormStopInstance)
TQ_UNREACHABLE(NormStopReceiver)
TQ_UNREACHABLE(NormStopSender)
TQ_UNREACHABLE(NormStreamFlush)
TQ_UNREACHABLE(NormStreamOpen)
TQ_UNREACHABLE(NormStreamRead)
TQ_UNREACHABLE(NormStreamSeekMsgStart)
TQ_UNREACHABLE(NormStreamWrite)

#undef TQ_UNREACHABLE

// normApi.h: handles are `const void*`, a node id a uint32_t.
extern const void* const NORM_INSTANCE_INVALID;
extern const void* const NORM_SESSION_INVALID;
extern const void* const NORM_OBJECT_INVALID;
extern const uint32_t NORM_NODE_ANY;
const void* const NORM_INSTANCE_INVALID = nullptr;
const void* const NORM_SESSION_INVALID = nullptr;
const void* const NORM_OBJECT_INVALID = nullptr;
const uint32_t NORM_NODE_ANY = 0xffffffff;

}  // extern "C"
