#ifndef TOKENSCAN_COPENSSL_SHIM_H
#define TOKENSCAN_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

/* BIO_get_mem_data is a macro. */
static inline long CTokenscan_BIO_get_mem_data(BIO *bio, char **out) {
    return BIO_get_mem_data(bio, out);
}
#endif
