// Installation details per platform: the Cloud Token and the license with
// Copy and Download buttons, and the filled-in commands to start a gateway.
import { h, codeBlock, copyButton, downloadLink } from '../dom.js';

/** DOCKER_IMAGE is the gateway's container image (the repository's Dockerfile: docker build -t edgegate .). */
export const DOCKER_IMAGE = 'edgegate';

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function secret(id, label, value, filename, hint) {
  const ta = h('textarea', { id, readonly: true, rows: 4, spellcheck: 'false', 'aria-describedby': `${id}-hint` });
  ta.value = value;
  return h('div', { class: 'field secret' },
    h('div', { class: 'card-head' },
      h('label', { for: id }, label),
      h('div', { class: 'actions' },
        copyButton(() => value, 'Copy', label),
        downloadLink(value + '\n', filename, `Download ${filename}`))),
    ta,
    h('p', { class: 'hint', id: `${id}-hint` }, hint));
}

function dockerSteps(token, license) {
  const cmd = `docker run -d --name edgegate --restart unless-stopped -p 8082:8082 -v edgegate-data:/data \\\n  -e gravitee_cloud_token=${shq(token)} \\\n  -e gravitee_license_key=${shq(license)} \\\n  ${DOCKER_IMAGE}`;
  return h('ol', { class: 'howto', id: 'install-docker' },
    h('li', {}, 'On the Docker host, start the gateway:', codeBlock(cmd, { caption: 'docker run', wrap: true, name: 'docker-run' })),
    h('li', {}, 'It connects to this Cloud Gate (the token names it and pins its certificate), loads its configuration and serves on port 8082. ',
      'Check it with ', h('code', {}, 'docker logs edgegate'), '.'));
}

const LINUX_RUN = 'edgegate run --cloud-token-file /etc/edgegate/cloud-token --license-file /etc/edgegate/license.key --data-dir /var/lib/edgegate --listen :8082';

const SYSTEMD_UNIT = `[Unit]
Description=edgegate hybrid API gateway
Documentation=https://github.com/edgegate/edgegate
Wants=network-online.target
After=network-online.target

[Service]
LoadCredential=cloud-token:/etc/edgegate/cloud-token
LoadCredential=license.key:/etc/edgegate/license.key
ExecStart=/usr/local/bin/edgegate run --cloud-token-file \${CREDENTIALS_DIRECTORY}/cloud-token --license-file \${CREDENTIALS_DIRECTORY}/license.key --data-dir /var/lib/edgegate --listen :8082
StateDirectory=edgegate
DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
Restart=on-failure
RestartSec=2s
# 125: not configured (no token or license); restarting would not help.
RestartPreventExitStatus=125
TimeoutStopSec=30s

[Install]
WantedBy=multi-user.target
`;

function linuxSteps() {
  return h('ol', { class: 'howto', id: 'install-linux' },
    h('li', {}, 'Install the binary (', h('code', {}, 'make build'), ' writes it to ', h('code', {}, 'bin/edgegate'), '):',
      codeBlock('sudo install -m 0755 bin/edgegate /usr/local/bin/edgegate', { caption: 'install' })),
    h('li', {}, 'Save the two files above (Download buttons) and put them in place:',
      codeBlock('sudo install -d -m 0700 /etc/edgegate\nsudo install -m 0600 cloud-token license.key /etc/edgegate/', { caption: 'files' })),
    h('li', {}, 'Try it in the foreground:', codeBlock(`sudo ${LINUX_RUN}`, { caption: 'edgegate run', name: 'edgegate-run' })),
    h('li', {}, 'Run it as a service: save this unit as ', h('code', {}, '/etc/systemd/system/edgegate.service'), ',',
      codeBlock(SYSTEMD_UNIT, { caption: 'edgegate.service', name: 'systemd-unit' }),
      'then enable it:', codeBlock('sudo systemctl daemon-reload && sudo systemctl enable --now edgegate', { caption: 'systemctl' })));
}

function imageLinks(slot) {
  // The gate may offer appliance images next to the console (console.Options.Downloads).
  fetch('downloads/index.json', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : [])).then((files) => {
    if (!Array.isArray(files) || !files.length) return;
    slot.replaceChildren('Download the image: ', ...files.map((f) => h('a', { class: 'btn btn-small', href: `downloads/${encodeURIComponent(f.name)}`, download: f.name },
      `${f.name} (${Math.round((f.size || 0) / 1048576)} MiB)`)));
  }).catch(() => {});
}

function applianceSteps() {
  const links = h('p', { id: 'image-downloads' }, 'Build the image with ', h('code', {}, 'make image TARGET=amd64'),
    ' (x86-64 mini PC) or ', h('code', {}, 'make image TARGET=rpi'), ' (Raspberry Pi 4/5); it is written to ',
    h('code', {}, 'build/amd64/disk.img'), ' (or ', h('code', {}, 'build/rpi/disk.img'), ').');
  imageLinks(links);
  return h('ol', { class: 'howto', id: 'install-appliance' },
    h('li', {}, h('strong', {}, 'Get the appliance image. '), links),
    h('li', {}, h('strong', {}, 'Flash it once '), 'onto the box\u2019s disk or SD card (the script refuses mounted and system disks and verifies what it wrote):',
      codeBlock('sudo scripts/flash.sh build/amd64/disk.img /dev/sdX', { caption: 'flash' })),
    h('li', {}, h('strong', {}, 'Make the provisioning stick. '), 'Save the two files above (Download buttons), then write a small FAT image for a USB stick:',
      codeBlock('edgegate provision --token-file cloud-token --license-file license.key --out prov.img', { caption: 'edgegate provision', name: 'provision' }),
      codeBlock('sudo dd if=prov.img of=/dev/sdY bs=4M conv=fsync status=progress', { caption: 'dd', name: 'dd' }),
      h('p', { class: 'hint' }, 'Or copy ', h('code', {}, 'cloud-token'), ' and ', h('code', {}, 'license.key'),
        ' into a folder named ', h('code', {}, 'edgegate'), ' on any FAT-formatted stick.')),
    h('li', {}, h('strong', {}, 'Plug the stick in and power the box on. '),
      'It boots into the gateway, checks and copies the details to its own storage (the stick can then be removed) and connects.'));
}

/** installation shows the generated token, license and the platform's steps. */
export function installation(platform, result, env) {
  const token = result.cloudToken;
  const license = result.licenseKey;
  const steps = { docker: () => dockerSteps(token, license), linux: linuxSteps, appliance: applianceSteps }[platform];
  return h('div', {},
    h('div', { class: 'grid' },
      secret('cloud-token', 'Cloud Token', token, 'cloud-token', `Binds the gateway to ${env.org} / ${env.env}. Keep it secret; revoke it on the Tokens page.`),
      secret('license-key', 'License', license, 'license.key', 'The gateway checks it at start and warns 30 days before it expires.')),
    h('h3', {}, 'Start the gateway'),
    steps ? steps() : null);
}

/** verifyCommand is the curl line that checks an access point answers. */
export function verifyCommand(accessPoints) {
  const ap = (accessPoints && accessPoints[0]) || 'https://gateway.example.com';
  return codeBlock(`curl -i ${ap}/`, { caption: 'check', name: 'verify' });
}
