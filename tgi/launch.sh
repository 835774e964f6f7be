#!/usr/bin/env bash
# Start one inference engine container (TGI by default, or vLLM) on one GPU.
#
# Why a script: ops can read, run and adapt the exact docker command by hand, and the
# supervisor runs the very same command (with --foreground) for every engine it launches.
#
#   tgi/launch.sh --gpu N --model-id ID --port P [--name NAME] [--revision R]
#                 [--engine tgi|vllm [--sleep-mode]] [--memory-fraction F]
#                 [--publish-address ADDR] [--foreground] [--dry-run]
#
# Environment (all optional):
#   ARENA_TGI_IMAGE    TGI image (default: the pinned tag below)
#   ARENA_VLLM_IMAGE   vLLM image (default: the pinned tag below)
#   ARENA_MODEL_CACHE  host directory mounted at /data as HF_HOME (default: ~/.cache/huggingface)
#   ARENA_PUBLISH_ADDRESS  host address the engine port is published on (default 127.0.0.1:
#                      only this machine reaches the engine; 0.0.0.0 opens it to the network)
#   ARENA_MAX_INPUT_TOKENS / ARENA_MAX_TOTAL_TOKENS / ARENA_MAX_CONCURRENT_REQUESTS
#                      token limits (1536 / 2048: the models' context is 2048) and the bound
#                      on concurrent requests (64)
#   HF_TOKEN           passed through to the container by name, never printed
#
# Exit status: 0 started (or printed), 2 bad arguments, 3 docker missing or unusable,
# 4 no NVIDIA GPU (or not that one); otherwise docker's own status.
set -euo pipefail

readonly TGI_IMAGE_PINNED="ghcr.io/huggingface/text-generation-inference:3.3.5"
readonly VLLM_IMAGE_PINNED="vllm/vllm-openai:v0.11.0"
readonly PROG="launch.sh"

usage() {
  cat <<EOF
usage: $PROG --gpu N --model-id ID --port P [--name NAME] [--revision R]
                 [--engine tgi|vllm [--sleep-mode]] [--memory-fraction F]
                 [--publish-address ADDR] [--foreground] [--dry-run]

Start one inference engine container on GPU N, serving MODEL ID on host port P.

  --gpu N              GPU index (as nvidia-smi numbers them)
  --model-id ID        Hugging Face model id, e.g. HPLT/hplt2c_swe_checkpoints
  --port P             host port the engine's HTTP API is published on
  --name NAME          container name (default: arena-gpuN-P); an older container
                       with that name is removed first
  --revision R         model revision: branch, tag or commit (default: main)
  --engine E           tgi (default) or vllm (OpenAI-compatible /v1/completions)
  --sleep-mode         vllm only: serve /sleep, /wake_up and /is_sleeping so the
                       supervisor can put the engine to sleep instead of stopping it
                       (VLLM_SERVER_DEV_MODE=1 inside the container only; keep the port
                       on a trusted network: anyone reaching it may put it to sleep)
  --memory-fraction F  share of the GPU's memory this engine may use, 0 < F <= 1
                       (for several engines on one GPU; default: the engine's own)
  --publish-address A  host IPv4 address the port is published on (default: 127.0.0.1,
                       or ARENA_PUBLISH_ADDRESS; 0.0.0.0 opens it to the network)
  --foreground         run attached (docker run --rm, no -d): the script lives as
                       long as the container and prints its log (for the supervisor)
  --dry-run            print the docker command and start nothing
  -h, --help           this help
EOF
}

die() {  # die STATUS MESSAGE...
  local status=$1
  shift
  echo "$PROG: error: $*" >&2
  exit "$status"
}

bad_usage() {
  echo "$PROG: error: $*" >&2
  echo "run '$PROG --help' for usage" >&2
  exit 2
}

gpu="" model_id="" port="" name="" revision="main" engine="tgi" memory_fraction=""
publish=${ARENA_PUBLISH_ADDRESS:-127.0.0.1}
foreground=false dry_run=false sleep_mode=false

need_value() {  # need_value "$@": the option at $1 must have a value at $2
  if [ "$#" -lt 2 ] || [[ "$2" == --* ]]; then
    bad_usage "$1 needs a value"
  fi
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --gpu) need_value "$@"; gpu=$2; shift 2 ;;
    --model-id) need_value "$@"; model_id=$2; shift 2 ;;
    --port) need_value "$@"; port=$2; shift 2 ;;
    --name) need_value "$@"; name=$2; shift 2 ;;
    --revision) need_value "$@"; revision=$2; shift 2 ;;
    --engine) need_value "$@"; engine=$2; shift 2 ;;
    --memory-fraction) need_value "$@"; memory_fraction=$2; shift 2 ;;
    --publish-address) need_value "$@"; publish=$2; shift 2 ;;
    --gpu=* | --model-id=* | --port=* | --name=* | --revision=* | --engine=* | --memory-fraction=* \
      | --publish-address=*)
      opt=${1%%=*}
      set -- "$opt" "${1#*=}" "${@:2}"
      ;;
    --foreground) foreground=true; shift ;;
    --sleep-mode) sleep_mode=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown argument: $1" ;;
  esac
done

# --- validate the arguments ------------------------------------------------------------------
[ -n "$gpu" ] || bad_usage "--gpu is required"
[ -n "$model_id" ] || bad_usage "--model-id is required"
[ -n "$port" ] || bad_usage "--port is required"
[[ "$gpu" =~ ^[0-9]+$ ]] || bad_usage "--gpu must be a GPU index (0, 1, ...), not '$gpu'"
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  bad_usage "--port must be a TCP port (1-65535), not '$port'"
fi
# A Hub id (org/name) or a local path: nothing a shell or docker would split or expand.
[[ "$model_id" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || bad_usage "--model-id '$model_id' is not a model id"
[[ "$revision" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || bad_usage "--revision '$revision' is not a revision"
case "$engine" in
  tgi | vllm) ;;
  *) bad_usage "--engine must be tgi or vllm, not '$engine'" ;;
esac
if [ -n "$memory_fraction" ]; then
  if ! [[ "$memory_fraction" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || [[ "$memory_fraction" =~ ^0?\.0*$ ]]; then
    bad_usage "--memory-fraction must be a number in (0, 1], not '$memory_fraction'"
  fi
fi
if [ "$sleep_mode" = true ] && [ "$engine" != vllm ]; then
  bad_usage "--sleep-mode needs --engine vllm (TGI has no sleep mode)"
fi
if ! [[ "$publish" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  bad_usage "--publish-address must be an IPv4 address (127.0.0.1, 0.0.0.0, ...), not '$publish'"
fi
name=${name:-arena-gpu$gpu-$port}
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || bad_usage "--name '$name' is not a valid container name"

max_input_tokens=${ARENA_MAX_INPUT_TOKENS:-1536}
max_total_tokens=${ARENA_MAX_TOTAL_TOKENS:-2048}
max_concurrent=${ARENA_MAX_CONCURRENT_REQUESTS:-64}
for limit in max_input_tokens max_total_tokens max_concurrent; do
  [[ "${!limit}" =~ ^[1-9][0-9]*$ ]] || bad_usage "$limit must be a positive whole number, not '${!limit}'"
done
[ "$max_input_tokens" -lt "$max_total_tokens" ] ||
  bad_usage "ARENA_MAX_INPUT_TOKENS ($max_input_tokens) must be below ARENA_MAX_TOTAL_TOKENS ($max_total_tokens)"
cache=${ARENA_MODEL_CACHE:-${HOME:-/root}/.cache/huggingface}

# --- the command ---------------------------------------------------------------------------
if [ "$foreground" = true ]; then
  # Attached: docker forwards SIGTERM to the engine, and --rm cleans up after it exits.
  cmd=(docker run --rm)
else
  cmd=(docker run -d)
fi
cmd+=(--name "$name" --gpus "device=$gpu" --shm-size 1g)
if [ "$engine" = tgi ]; then
  cmd+=(-p "$publish:$port:80" -v "$cache:/data" -e HF_TOKEN -e HF_HOME=/data)
  cmd+=("${ARENA_TGI_IMAGE:-$TGI_IMAGE_PINNED}")
  cmd+=(--model-id "$model_id" --revision "$revision" --dtype bfloat16)
  cmd+=(--max-input-tokens "$max_input_tokens" --max-total-tokens "$max_total_tokens")
  cmd+=(--max-batch-prefill-tokens "$max_total_tokens")
  cmd+=(--max-concurrent-requests "$max_concurrent")
  if [ -n "$memory_fraction" ]; then
    cmd+=(--cuda-memory-fraction "$memory_fraction")
  fi
else
  cmd+=(-p "$publish:$port:8000" -v "$cache:/data" -e HF_TOKEN -e HF_HOME=/data)
  if [ "$sleep_mode" = true ]; then
    cmd+=(-e VLLM_SERVER_DEV_MODE=1)  # the sleep routes; set in the container only
  fi
  cmd+=("${ARENA_VLLM_IMAGE:-$VLLM_IMAGE_PINNED}")
  # --served-model-name: /v1/models must list the Hub id, which readiness probes check.
  cmd+=(--model "$model_id" --revision "$revision" --served-model-name "$model_id")
  cmd+=(--dtype bfloat16 --max-model-len "$max_total_tokens")
  cmd+=(--max-num-seqs "$max_concurrent")
  if [ -n "$memory_fraction" ]; then
    cmd+=(--gpu-memory-utilization "$memory_fraction")
  fi
  if [ "$sleep_mode" = true ]; then
    cmd+=(--enable-sleep-mode)
  fi
fi

if [ "$dry_run" = true ]; then
  echo "# replaces any older container of that name first: docker rm --force $name"
  printf '%q ' "${cmd[@]}" | sed 's/ $//'
  echo
  exit 0
fi

# --- the machine -----------------------------------------------------------------------------
command -v docker >/dev/null 2>&1 ||
  die 3 "docker not found on PATH: install Docker Engine and the NVIDIA Container Toolkit"
docker info >/dev/null 2>&1 ||
  die 3 "docker is installed but its daemon does not answer (is it running, may this user use it?)"
command -v nvidia-smi >/dev/null 2>&1 ||
  die 4 "nvidia-smi not found: this machine has no NVIDIA driver, so no GPU to run on"
if ! gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>&1); then
  die 4 "nvidia-smi failed, no usable GPU: $gpus"
fi
gpus=$(echo "$gpus" | tr -d ' ' | grep -E '^[0-9]+$' | paste -sd, - || true)
case ",$gpus," in
  *",$gpu,"*) ;;
  *) die 4 "GPU $gpu not found (this machine has: ${gpus:-none})" ;;
esac

if docker container inspect "$name" >/dev/null 2>&1; then
  echo "$PROG: replacing the older container $name" >&2
  docker rm --force "$name" >/dev/null
fi
echo "$PROG: starting $engine for $model_id on GPU $gpu, port $port, as $name" >&2
if [ "$foreground" = true ]; then
  exec "${cmd[@]}"
fi
"${cmd[@]}"
