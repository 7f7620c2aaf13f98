# Shared by the batch scripts in this folder (sourced, not run). Finds the binary and the env
# file, puts job metadata where mst-search reads it, and runs the search so that SLURM's
# checkpoint signal reaches it and an optional self-requeue follows a checkpoint.
#
# Settings (environment): MST_SEARCH_DIR (the checkout, default the submit dir),
# MST_SEARCH_BIN (default $MST_SEARCH_DIR/target/release/mst-search), MST_REQUEUE=1 (requeue
# the job after a checkpoint, up to MST_MAX_REQUEUES times, default 5).

mst_repo="${MST_SEARCH_DIR:-${SLURM_SUBMIT_DIR:-$(pwd)}}"
mst_bin="${MST_SEARCH_BIN:-$mst_repo/target/release/mst-search}"

# Exit code of a checkpointed stop (docs/guide/running.md, "Exit codes").
MST_INTERRUPTED=4

mst_check() { # ENV_FILE
  if [ ! -x "$mst_bin" ]; then
    echo "mst-search binary not found at $mst_bin: run 'cargo build --release' in $mst_repo or set MST_SEARCH_BIN" >&2
    exit 2
  fi
  if [ ! -f "$1" ]; then
    echo "env file $1 not found: pass it as the first argument" >&2
    exit 2
  fi
}

# KEY is set in the environment or in the env file: leave it to the user's value.
mst_key_given() { # KEY ENV_FILE
  [ -n "${!1:-}" ] || grep -Eq "^[[:space:]]*(export[[:space:]]+)?$1=[^[:space:]#]" "$2"
}

# NODE and GPUS describe the node this job runs on, unless the user set them.
mst_job_metadata() { # ENV_FILE
  if ! mst_key_given NODE "$1" && [ -n "${SLURMD_NODENAME:-}" ]; then
    export NODE="$SLURMD_NODENAME"
  fi
  if ! mst_key_given GPUS "$1"; then
    if [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
      export GPUS="$SLURM_GPUS_ON_NODE"
    elif [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
      export GPUS="$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .)"
    fi
  fi
  # SLURM_JOB_ID becomes JOB_ID and SLURM_ARRAY_TASK_ID the size index by themselves.
}

# Run mst-search in the background and forward SLURM's signals to it: with
# `--signal=B:USR1@N` only this shell gets USR1, N seconds before the time limit. Sets
# mst_code to the search's exit code.
mst_run() { # ARGS...
  "$mst_bin" "$@" &
  local pid=$!
  trap "kill -USR1 $pid 2>/dev/null || true" USR1
  trap "kill -TERM $pid 2>/dev/null || true" TERM
  trap "kill -INT $pid 2>/dev/null || true" INT
  # A trapped signal ends `wait` early; wait again until the search has really exited.
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
  done
  set +e
  wait "$pid"
  mst_code=$?
  set -e
  trap - USR1 TERM INT
}

# After a checkpoint, put the job back in the queue when MST_REQUEUE=1 (needs --requeue).
mst_maybe_requeue() {
  if [ "$mst_code" -ne "$MST_INTERRUPTED" ] || [ "${MST_REQUEUE:-0}" != 1 ] || [ -z "${SLURM_JOB_ID:-}" ]; then
    return 0
  fi
  local restarts="${SLURM_RESTART_COUNT:-0}" max="${MST_MAX_REQUEUES:-5}"
  if [ "$restarts" -ge "$max" ]; then
    echo "mst-search: checkpoint saved; not requeueing: already restarted $restarts times (MST_MAX_REQUEUES=$max)" >&2
    return 0
  fi
  echo "mst-search: checkpoint saved; requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $max)" >&2
  scontrol requeue "$SLURM_JOB_ID"
}
