const client = axios.create({
  baseURL: `${config.EXTERNAL_API_URL}/!/ems/enterprises/${eid}/cmk`,
  headers: {
    authorization: `ApiKey ${apiKey}`,
  },
});

const respGet = await client.put('/import-key-request');
const keyMaterial = crypto.randomBytes(32);
const encKeyMaterial = crypto.publicEncrypt(respGet.data.publicKey, keyMaterial);

const respPost = await client.post('/import-key', { importToken: respGet.data.importToken, keyMaterial: encKeyMaterial.toString('base64') });

// Response will be a JSON object that contains a status key and an id key.
