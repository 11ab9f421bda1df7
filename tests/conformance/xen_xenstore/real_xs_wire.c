/* Compiled as C against Debian's libxen-dev headers: the reference. */
#include "real_xs_wire.h"

#include <errno.h> /* before xs_wire.h: it defines xsd_errors only if EINVAL is */
#include <stdint.h>

#include <xen/io/xenbus.h>
#include <xen/io/xs_wire.h>

#define FIELD(type, field) \
    { #field, sizeof(((type*)0)->field), offsetof(type, field) }
#define CONSTANT(name) \
    { #name, (long)(name) }

const struct real_layout real_xsd_sockmsg_layout[] = {
    {"struct", sizeof(struct xsd_sockmsg), 0},
    FIELD(struct xsd_sockmsg, type),
    FIELD(struct xsd_sockmsg, req_id),
    FIELD(struct xsd_sockmsg, tx_id),
    FIELD(struct xsd_sockmsg, len),
};
const size_t real_xsd_sockmsg_layout_count =
    sizeof(real_xsd_sockmsg_layout) / sizeof(real_xsd_sockmsg_layout[0]);

const struct real_layout real_domain_interface_layout[] = {
    {"struct", sizeof(struct xenstore_domain_interface), 0},
    FIELD(struct xenstore_domain_interface, req),
    FIELD(struct xenstore_domain_interface, rsp),
    FIELD(struct xenstore_domain_interface, req_cons),
    FIELD(struct xenstore_domain_interface, req_prod),
    FIELD(struct xenstore_domain_interface, rsp_cons),
    FIELD(struct xenstore_domain_interface, rsp_prod),
    FIELD(struct xenstore_domain_interface, server_features),
    FIELD(struct xenstore_domain_interface, connection),
    FIELD(struct xenstore_domain_interface, error),
};
const size_t real_domain_interface_layout_count =
    sizeof(real_domain_interface_layout) / sizeof(real_domain_interface_layout[0]);

const struct real_constant real_xs_constants[] = {
    CONSTANT(XS_CONTROL),
    CONSTANT(XS_DIRECTORY),
    CONSTANT(XS_READ),
    CONSTANT(XS_GET_PERMS),
    CONSTANT(XS_WATCH),
    CONSTANT(XS_UNWATCH),
    CONSTANT(XS_TRANSACTION_START),
    CONSTANT(XS_TRANSACTION_END),
    CONSTANT(XS_INTRODUCE),
    CONSTANT(XS_RELEASE),
    CONSTANT(XS_GET_DOMAIN_PATH),
    CONSTANT(XS_WRITE),
    CONSTANT(XS_MKDIR),
    CONSTANT(XS_RM),
    CONSTANT(XS_SET_PERMS),
    CONSTANT(XS_WATCH_EVENT),
    CONSTANT(XS_ERROR),
    CONSTANT(XS_IS_DOMAIN_INTRODUCED),
    CONSTANT(XS_RESUME),
    CONSTANT(XS_SET_TARGET),
    CONSTANT(XS_RESET_WATCHES),
    CONSTANT(XS_DIRECTORY_PART),
    CONSTANT(XS_TYPE_COUNT),
    CONSTANT(XS_INVALID),
    CONSTANT(XS_WATCH_PATH),
    CONSTANT(XS_WATCH_TOKEN),
    CONSTANT(XENSTORE_RING_SIZE),
    CONSTANT(XENSTORE_PAYLOAD_MAX),
    CONSTANT(XENSTORE_ABS_PATH_MAX),
    CONSTANT(XENSTORE_REL_PATH_MAX),
    CONSTANT(XENSTORE_SERVER_FEATURE_RECONNECTION),
    CONSTANT(XENSTORE_SERVER_FEATURE_ERROR),
    CONSTANT(XENSTORE_CONNECTED),
    CONSTANT(XENSTORE_RECONNECT),
    CONSTANT(XENSTORE_ERROR_NONE),
    CONSTANT(XENSTORE_ERROR_COMM),
    CONSTANT(XENSTORE_ERROR_RINGIDX),
    CONSTANT(XENSTORE_ERROR_PROTO),
};
const size_t real_xs_constants_count = sizeof(real_xs_constants) / sizeof(real_xs_constants[0]);

const struct real_constant real_xenbus_states[] = {
    CONSTANT(XenbusStateUnknown),      CONSTANT(XenbusStateInitialising),
    CONSTANT(XenbusStateInitWait),     CONSTANT(XenbusStateInitialised),
    CONSTANT(XenbusStateConnected),    CONSTANT(XenbusStateClosing),
    CONSTANT(XenbusStateClosed),       CONSTANT(XenbusStateReconfiguring),
    CONSTANT(XenbusStateReconfigured),
};
const size_t real_xenbus_states_count = sizeof(real_xenbus_states) / sizeof(real_xenbus_states[0]);

size_t real_xsd_error_count(void) {
    return sizeof(xsd_errors) / sizeof(xsd_errors[0]);
}
int real_xsd_error_number(size_t index) {
    return xsd_errors[index].errnum;
}
const char* real_xsd_error_name(size_t index) {
    return xsd_errors[index].errstring;
}

unsigned real_mask_xenstore_idx(unsigned index) {
    return MASK_XENSTORE_IDX(index);
}
