# Plans like a state-backed provisioner: one resource to create unless this label's mark exists.
label=$(tr -d ' \n\t' < "$MD_PARAMS_FILE" | sed -n 's/.*"label":"\([^"]*\)".*/\1/p')
if [ -f "$TS_TARGET_CHAOS_MARKS" ] && grep -qF "\"label\":\"$label\"" "$TS_TARGET_CHAOS_MARKS"; then
  printf '%s' '{"format_version":"1.2","resource_changes":[]}'
else
  printf '%s' '{"format_version":"1.2","resource_changes":[{"address":"mark.this","type":"mark","name":"this","change":{"actions":["create"],"before":null,"after":{}}}]}'
fi
