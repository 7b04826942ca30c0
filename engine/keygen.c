/* dchat keygen --out FILE: a new node identity. */
#include "engine/cmd.h"
#include "engine/key.h"

#include "common/dc_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int eng_cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: dchat keygen --out FILE\n"
                   "Writes a new Ed25519 key file (mode 0600) and prints the node id.\n");
            return 0;
        } else {
            fprintf(stderr, "dchat keygen: unexpected argument '%s' "
                            "(usage: dchat keygen --out FILE)\n", argv[i]);
            return 2;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "dchat keygen: --out FILE is required\n");
        return 2;
    }
    struct eng_key key;
    int rc = eng_key_generate(&key);
    if (rc == 0) {
        rc = eng_key_save(&key, out);
    }
    if (rc != 0) {
        fprintf(stderr, "dchat keygen: cannot write '%s': %s\n", out,
                rc == -EEXIST ? "file exists (refusing to overwrite a key)" : dc_strerror(rc));
        return 1;
    }
    char id_hex[2 * ENG_KEY_ID_BYTES + 1];
    eng_hex(key.id, ENG_KEY_ID_BYTES, id_hex);
    printf("%s\n", id_hex);
    return 0;
}
