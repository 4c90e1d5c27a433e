# Applies the saved plan: a plan that creates the mark appends one line (the params), in one
# write; a plan without changes changes nothing. Applying one create plan twice leaves two lines.
if grep -q '"create"' "$MD_PLAN_FILE"; then
  printf '%s\n' "$(tr -d ' \n\t' < "$MD_PARAMS_FILE")" >> "$TS_TARGET_CHAOS_MARKS"
fi
printf '%s' '{}'
