#!/usr/bin/env bash
# Fake `terraform apply` for one region: replays the plan saved by the plan step.
# Usage: apply.sh REGION
set -euo pipefail

region="${1:?usage: apply.sh REGION}"
plan="$FLOWTUI_WORKSPACE/plan.txt"
if [[ ! -f "$plan" ]]; then
    echo "error: no plan at $plan; run the plan step first" >&2
    exit 1
fi
# regions far from us take longer, so a parallel timeline shows the difference
case "$region" in
    us) pause=0.2 ;;
    eu) pause=0.4 ;;
    *) pause=0.6 ;;
esac

echo "[$region] applying $(grep -c '^[+~-]' "$plan") changes"
while read -r action resource; do
    [[ "$action" == "#" || -z "$action" ]] && continue
    sleep "$pause"
    case "$action" in
        +) echo "[$region] $resource: Creation complete" ;;
        ~) echo "[$region] $resource: Modifications complete" ;;
        -) echo "[$region] $resource: Destruction complete" ;;
    esac
done <"$plan"
echo "$region" >"$FLOWTUI_WORKSPACE/applied-$region.txt"
echo "summary=$region: 3 added, 1 changed, 0 destroyed" >>"$FLOWTUI_OUTPUT"
