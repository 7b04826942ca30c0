/*
 * ctl: the control thread (engine/ctl.h). First cut: the API exists so the node runtime can
 * call it; discovery lands in the next commits.
 */
#include "engine/ctl.h"

#include "common/dc_err.h"
#include "common/dc_log.h"

#include <stddef.h>

int eng_ctl_start(struct eng_ctl *ctl, const struct eng_node_config *cfg,
                  struct dp_ctl_port *port)
{
    (void)cfg;
    (void)port;
    ctl->state = NULL;
    DC_ERROR("ctl", "discovery and RPC are not yet available in this build");
    return DC_EUNSUPPORTED;
}

int eng_ctl_start_params(struct eng_ctl *ctl, const struct eng_ctl_params *params)
{
    (void)params;
    ctl->state = NULL;
    DC_ERROR("ctl", "discovery and RPC are not yet available in this build");
    return DC_EUNSUPPORTED;
}

void eng_ctl_stop(struct eng_ctl *ctl)
{
    ctl->state = NULL;
}
