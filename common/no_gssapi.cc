// Failing stand-ins for the GSS-API functions libzmq.a refers to, linked
// into executables that take libzmq from its archive (cmake/StaticDeps.cmake)
// in place of Kerberos's libgssapi_krb5 and the six libraries it loads.
//
// Why: libzmq's GSSAPI security mechanism is compiled into Debian's libzmq,
// so its archive needs these symbols, but tq never selects that mechanism
// (it uses NULL or CURVE; nothing sets ZMQ_GSSAPI_*). libzmq only creates a
// GSSAPI mechanism object for a socket configured with it; a peer that
// announces GSSAPI in its greeting to one of ours is refused for the
// mismatch before any of these would run. Loading the seven Kerberos
// libraries was ~30 % of every tq-client start on the 2-core VM.
//
// Should one still be called, it fails as GSS-API reports failure
// (GSS_S_FAILURE, minor status 0) and libzmq fails the handshake.
#include <gssapi/gssapi.h>

namespace {

OM_uint32 Fail(OM_uint32* minor_status) {
  if (minor_status != nullptr) *minor_status = 0;
  return GSS_S_FAILURE;
}

gss_OID_desc no_oid = {0, nullptr};

}  // namespace

extern "C" {

gss_OID GSS_C_NT_USER_NAME = &no_oid;
gss_OID GSS_C_NT_HOSTBASED_SERVICE = &no_oid;

OM_uint32 gss_acquire_cred(OM_uint32* minor_status, gss_name_t, OM_uint32,
                           gss_OID_set, gss_cred_usage_t, gss_cred_id_t*,
                           gss_OID_set*, OM_uint32*) {
  return Fail(minor_status);
}

OM_uint32 gss_release_cred(OM_uint32* minor_status, gss_cred_id_t*) {
  return Fail(minor_status);
}

OM_uint32 gss_init_sec_context(OM_uint32* minor_status, gss_cred_id_t,
                               gss_ctx_id_t*, gss_name_t, gss_OID, OM_uint32,
                               OM_uint32, gss_channel_bindings_t, gss_buffer_t,
                               gss_OID*, gss_buffer_t, OM_uint32*, OM_uint32*) {
  return Fail(minor_status);
}

OM_uint32 gss_accept_sec_context(OM_uint32* minor_status, gss_ctx_id_t*,
                                 gss_cred_id_t, gss_buffer_t,
                                 gss_channel_bindings_t, gss_name_t*, gss_OID*,
                                 gss_buffer_t, OM_uint32*, OM_uint32*,
                                 gss_cred_id_t*) {
  return Fail(minor_status);
}

OM_uint32 gss_delete_sec_context(OM_uint32* minor_status, gss_ctx_id_t*,
                                 gss_buffer_t) {
  return Fail(minor_status);
}

OM_uint32 gss_wrap(OM_uint32* minor_status, gss_ctx_id_t, int, gss_qop_t,
                   gss_buffer_t, int*, gss_buffer_t) {
  return Fail(minor_status);
}

OM_uint32 gss_unwrap(OM_uint32* minor_status, gss_ctx_id_t, gss_buffer_t,
                     gss_buffer_t, int*, gss_qop_t*) {
  return Fail(minor_status);
}

OM_uint32 gss_display_name(OM_uint32* minor_status, gss_name_t, gss_buffer_t,
                           gss_OID*) {
  return Fail(minor_status);
}

OM_uint32 gss_import_name(OM_uint32* minor_status, gss_buffer_t, gss_OID,
                          gss_name_t*) {
  return Fail(minor_status);
}

OM_uint32 gss_release_name(OM_uint32* minor_status, gss_name_t*) {
  return Fail(minor_status);
}

OM_uint32 gss_release_buffer(OM_uint32* minor_status, gss_buffer_t) {
  return Fail(minor_status);
}

}  // extern "C"
