#!/usr/bin/env bash
# Fake `terraform plan`: writes the plan into the run's workspace for the apply steps.
set -euo pipefail

plan="$FLOWTUI_WORKSPACE/plan.txt"
version="${PARAM_VERSION:-dev}"

echo "Refreshing state for release $version..."
sleep 0.3
echo "Computing changes..."
sleep 0.4
cat >"$plan" <<PLAN
# release $version
+ aws_ecs_service.web
+ aws_lb_target_group.web
+ aws_route53_record.web
~ aws_security_group.web
PLAN
cat "$plan"
echo "Plan: 3 to add, 1 to change, 0 to destroy. Saved to plan.txt"
echo "summary=3 to add, 1 to change, 0 to destroy" >>"$FLOWTUI_OUTPUT"
