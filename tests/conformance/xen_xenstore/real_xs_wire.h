/* What Xen's own xen/io/xs_wire.h and xen/io/xenbus.h say, exported from a
 * C translation unit compiled against them, so C++ tests can compare. */
#ifndef PVSIM_TESTS_REAL_XS_WIRE_H
#define PVSIM_TESTS_REAL_XS_WIRE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct real_layout {
    const char* name; /* "struct" for the whole, else the field */
    size_t size;
    size_t offset;
};

struct real_constant {
    const char* name;
    long value;
};

/* {name, size, offset} of struct xsd_sockmsg and its fields. */
extern const struct real_layout real_xsd_sockmsg_layout[];
extern const size_t real_xsd_sockmsg_layout_count;

/* ... of struct xenstore_domain_interface. */
extern const struct real_layout real_domain_interface_layout[];
extern const size_t real_domain_interface_layout_count;

/* enum xsd_sockmsg_type, enum xenbus_state and the #define'd limits. */
extern const struct real_constant real_xs_constants[];
extern const size_t real_xs_constants_count;
extern const struct real_constant real_xenbus_states[];
extern const size_t real_xenbus_states_count;

/* The xsd_errors table in its ABI order. */
size_t real_xsd_error_count(void);
int real_xsd_error_number(size_t index);
const char* real_xsd_error_name(size_t index);

/* MASK_XENSTORE_IDX, applied by the real macro. */
unsigned real_mask_xenstore_idx(unsigned index);

#ifdef __cplusplus
}
#endif

#endif
