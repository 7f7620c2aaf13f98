//! The `simulate` subcommand: print the analytic capacity, or serve until interrupted.

use std::net::{IpAddr, SocketAddr};

use anyhow::anyhow;

use crate::SimulateArgs;

/// Runs `mst-search simulate`.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let cfg = args.engine().map_err(|e| anyhow!(e))?;
    let faults = args.faults().map_err(|e| anyhow!(e))?;
    if let Some((input, output)) = args.capacity_shape().map_err(|e| anyhow!(e))? {
        let c = super::capacity(&cfg, input, output);
        println!("{}", capacity_report(&cfg, input, output, &c));
        return Ok(());
    }
    let ip: IpAddr = args.host.parse().map_err(|_| {
        anyhow!(
            "--host {:?}: expected an IP address such as 127.0.0.1",
            args.host
        )
    })?;
    super::serve_forever(cfg, faults, SocketAddr::new(ip, args.port)).await
}

/// The text `--capacity` prints.
pub fn capacity_report(
    cfg: &super::EngineConfig,
    input: u32,
    output: u32,
    c: &super::Capacity,
) -> String {
    format!(
        "capacity for {input} input / {output} output tokens (time scale {}):\n  \
         {:.3} req/s = {:.1} req/min (wall clock)\n  \
         {:.1} output tokens/s\n  \
         {} sequences running at saturation, {:.3} model ms per step",
        cfg.time_scale,
        c.req_per_s,
        c.req_per_min,
        c.output_tokens_per_s,
        c.seqs_effective,
        c.step_ms_at_capacity
    )
}
