# Step 5, keyport: upload the import token and the wrapped key (the base64
# file's line breaks removed) to the import request.
curl --fail -s -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  $endpoint/api/v1/import-requests/$importid/upload \
  -d '{"import_token":"'$importtoken'","wrapped_key":"'"$(tr -d '\n' < secure-key-import-ready.b64)"'"}' > importresult.json
