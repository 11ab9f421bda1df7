/*
 * What real_xen.c, compiled as C against Debian's Xen public headers
 * (libxen-dev), exports to the conformance tests: the headers' struct
 * layouts and constants as tables, and blkif rings driven by the ring.h
 * macros themselves. Requests and responses cross this boundary as raw
 * bytes (struct blkif_request / struct blkif_response).
 */
#ifndef PVSIM_CONFORMANCE_XEN_BLKIF_REAL_XEN_H
#define PVSIM_CONFORMANCE_XEN_BLKIF_REAL_XEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One field of one struct; `field` is "" for the size of the whole type. */
struct real_xen_layout {
    const char* type;
    const char* field;
    size_t size;
    size_t offset;
};
size_t real_xen_layouts(const struct real_xen_layout** table);

/* One constant, named as the header names it. */
struct real_xen_constant {
    const char* name;
    long long value;
};
size_t real_xen_constants(const struct real_xen_constant** table);

/* GNTTABOP_error_msgs, indexed by -GNTST_*. */
size_t real_xen_gnttab_error_msgs(const char* const** messages);

/* XEN_IO_PROTO_ABI_NATIVE. */
const char* real_xen_proto_abi_native(void);

/* __CONST_RING_SIZE(blkif, bytes). */
uint32_t real_xen_blkif_const_ring_size(size_t bytes);

/* A blkif front end: blkif_front_ring_t and the FRONT_RING / RING_ macros. */
typedef struct real_xen_front real_xen_front;
real_xen_front* real_xen_front_init_shared(void* area, size_t bytes); /* XEN_FRONT_RING_INIT */
real_xen_front* real_xen_front_attach(void* area, size_t bytes, uint32_t index);
void real_xen_front_free(real_xen_front* ring);
uint32_t real_xen_front_size(const real_xen_front* ring);
uint32_t real_xen_front_req_prod_pvt(const real_xen_front* ring);
uint32_t real_xen_front_rsp_cons(const real_xen_front* ring);
uint32_t real_xen_front_free_requests(const real_xen_front* ring);
int real_xen_front_full(const real_xen_front* ring);
uint32_t real_xen_front_unconsumed_responses(const real_xen_front* ring);
/* *RING_GET_REQUEST(req_prod_pvt) = *request; req_prod_pvt++ */
void real_xen_front_produce_request(real_xen_front* ring, const void* request);
void real_xen_front_push_requests(real_xen_front* ring);
int real_xen_front_push_requests_and_check_notify(real_xen_front* ring);
/* RING_COPY_RESPONSE(rsp_cons, response); rsp_cons++ */
void real_xen_front_consume_response(real_xen_front* ring, void* response);
int real_xen_front_final_check_for_responses(real_xen_front* ring);
int real_xen_front_response_prod_overflow(const real_xen_front* ring, uint32_t prod);

/* A blkif back end: blkif_back_ring_t and the BACK_RING / RING_ macros. */
typedef struct real_xen_back real_xen_back;
real_xen_back* real_xen_back_attach(void* area, size_t bytes, uint32_t index);
void real_xen_back_free(real_xen_back* ring);
uint32_t real_xen_back_size(const real_xen_back* ring);
uint32_t real_xen_back_rsp_prod_pvt(const real_xen_back* ring);
uint32_t real_xen_back_req_cons(const real_xen_back* ring);
uint32_t real_xen_back_unconsumed_requests(const real_xen_back* ring);
/* RING_COPY_REQUEST(req_cons, request); req_cons++ */
void real_xen_back_consume_request(real_xen_back* ring, void* request);
/* *RING_GET_RESPONSE(rsp_prod_pvt) = *response; rsp_prod_pvt++ */
void real_xen_back_produce_response(real_xen_back* ring, const void* response);
void real_xen_back_push_responses(real_xen_back* ring);
int real_xen_back_push_responses_and_check_notify(real_xen_back* ring);
int real_xen_back_final_check_for_requests(real_xen_back* ring);
int real_xen_back_request_cons_overflow(const real_xen_back* ring, uint32_t cons);
int real_xen_back_request_prod_overflow(const real_xen_back* ring, uint32_t prod);

#ifdef __cplusplus
}
#endif

#endif /* PVSIM_CONFORMANCE_XEN_BLKIF_REAL_XEN_H */
