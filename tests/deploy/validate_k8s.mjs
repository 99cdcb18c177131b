// Offline checks of deploy/k8s (no cluster): every kustomization renders
// with `kubectl kustomize`, every rendered object validates against its
// Kubernetes schema (kubernetes-models; the Prometheus operator's and KEDA's
// CRDs with @kubernetes-models/prometheus-operator and /keda), and the
// manifests keep the properties the deployment relies on (non-root,
// read-only root fs, probes, CPU limits instead of --threads, one broker,
// the rules and dashboard identical to their sources, code jobs only from
// CURVE code clients and Python workers' egress limited, the standby pair's
// brokers on their own claims and nodes and known to every worker, ...).
//
// Usage: node validate_k8s.mjs REPO_ROOT   (KUBECTL=... to pick a kubectl)
// Exit 0 = all good, 1 = failures (each printed).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const repo = path.resolve(process.argv[2] ?? ".");
const kubectl = process.env.KUBECTL ?? "kubectl";
const failures = [];
const fail = (where, what) => failures.push(`${where}: ${what}`);

// apiVersion -> module holding its classes.
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "monitoring.coreos.com/v1":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

async function validateSchema(where, obj) {
  const module = modules[obj.apiVersion];
  if (!module) return fail(where, `no schema known for ${obj.apiVersion}`);
  const Kind = (await import(module))[obj.kind];
  if (!Kind) return fail(where, `${obj.apiVersion} has no kind ${obj.kind}`);
  try {
    new Kind(obj).validate();
  } catch (e) {
    fail(where, `schema: ${e.message}`);
  }
}

function render(dir) {
  return yaml.loadAll(execFileSync(kubectl, ["kustomize", dir], {
    encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  })).filter(Boolean);
}

// JSON with object keys sorted: kustomize reorders keys.
const canonical = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

const podSpecOf = (obj) =>
  ["Deployment", "Job"].includes(obj.kind) ? obj.spec.template.spec : null;

// Properties every pod template must have.
function checkPod(where, obj) {
  const pod = podSpecOf(obj);
  if (!pod) return;
  if (pod.securityContext?.runAsNonRoot !== true) fail(where, "pod not runAsNonRoot");
  if (pod.automountServiceAccountToken !== false) fail(where, "service account token mounted");
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) fail(where, `${c.name}: root fs writable`);
    if (sc.allowPrivilegeEscalation !== false) fail(where, `${c.name}: privilege escalation`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(where, `${c.name}: capabilities kept`);
    if (!c.resources?.limits?.cpu) fail(where, `${c.name}: no CPU limit`);
    if (!/^(registry\.example\.com\/)?tq:/.test(c.image)) fail(where, `${c.name}: image ${c.image}`);
  }
  const component = obj.spec.template.metadata?.labels?.["app.kubernetes.io/component"];
  if (obj.spec.template.metadata?.labels?.["app.kubernetes.io/name"] !== "tq" || !component) {
    fail(where, "pod lacks app.kubernetes.io/name=tq and a component label");
  }
}

function checkServer(where, obj, binary) {
  const pod = podSpecOf(obj);
  const c = pod.containers[0];
  if (c.command?.[0] !== binary) fail(where, `command is not ${binary}`);
  if (!(c.args ?? []).includes("--metrics-listen=0.0.0.0:9464")) fail(where, "no --metrics-listen");
  const port = (c.ports ?? []).find((p) => p.name === "metrics");
  if (port?.containerPort !== 9464) fail(where, "no metrics port 9464");
  if (c.readinessProbe?.httpGet?.path !== "/readyz" || c.readinessProbe.httpGet.port !== "metrics") {
    fail(where, "readiness probe is not /readyz on metrics");
  }
  if (c.livenessProbe?.httpGet?.path !== "/healthz" || c.livenessProbe.httpGet.port !== "metrics") {
    fail(where, "liveness probe is not /healthz on metrics");
  }
}

function checkBroker(where, obj, objects) {
  checkServer(where, obj, "tq-broker");
  if (obj.spec.replicas !== 1) fail(where, "broker replicas != 1");
  if (obj.spec.strategy?.type !== "Recreate") fail(where, "broker strategy is not Recreate");
  const claim = obj.spec.template.spec.volumes.find((v) => v.persistentVolumeClaim);
  if (!claim || !objects.some((o) => o.kind === "PersistentVolumeClaim" &&
      o.metadata.name === claim.persistentVolumeClaim.claimName)) {
    fail(where, "broker has no PersistentVolumeClaim for its journal");
  }
  if (!obj.spec.template.spec.containers[0].ports.some((p) => p.name === "zmq" && p.containerPort === 5555)) {
    fail(where, "broker has no zmq port 5555");
  }
}

// The endpoints a tq-worker or tq-client container is given (--broker=A,B).
const brokerList = (c) =>
  (c.args ?? []).find((a) => a.startsWith("--broker="))?.slice("--broker=".length).split(",") ?? [];

function checkWorker(where, obj) {
  checkServer(where, obj, "tq-worker");
  const c = obj.spec.template.spec.containers[0];
  if ((c.args ?? []).some((a) => a.startsWith("--threads"))) {
    fail(where, "worker passes --threads (it must follow its CPU limit)");
  }
  // One broker, or a list (the standby pair) that starts with it.
  if (brokerList(c)[0] !== "tcp://tq-broker:5555") fail(where, "worker broker address");
  if ((obj.spec.template.spec.terminationGracePeriodSeconds ?? 30) < 60) {
    fail(where, "worker grace period too short to drain");
  }
}

function checkCommon(where, objects) {
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const broker = find("Deployment", "tq-broker");
  const worker = find("Deployment", "tq-worker");
  if (!broker || !worker) return fail(where, "missing tq-broker or tq-worker Deployment");
  checkBroker(`${where} Deployment/tq-broker`, broker, objects);
  checkWorker(`${where} Deployment/tq-worker`, worker);
  const service = find("Service", "tq-broker");
  const ports = Object.fromEntries((service?.spec.ports ?? []).map((p) => [p.name, p.port]));
  if (ports.zmq !== 5555 || ports.metrics !== 9464) fail(where, "Service tq-broker ports");
  if (!objects.some((o) => o.kind === "PodDisruptionBudget")) fail(where, "no PodDisruptionBudget");
  const policies = objects.filter((o) => o.kind === "NetworkPolicy");
  const brokerPolicy = policies.find((p) =>
    p.spec.podSelector.matchLabels?.["app.kubernetes.io/component"] === "broker");
  if (!brokerPolicy) fail(where, "no NetworkPolicy for the broker");
  else {
    const zmqRule = brokerPolicy.spec.ingress.find((r) => r.ports.some((p) => p.port === "zmq"));
    const allowed = zmqRule?.from?.[0]?.podSelector?.matchExpressions
      ?.find((e) => e.key === "app.kubernetes.io/component")?.values ?? [];
    if (allowed.sort().join() !== "client,worker") fail(where, "zmq port not limited to workers and clients");
  }
  for (const p of policies) {
    const metricsRule = p.spec.ingress.find((r) => r.ports.some((port) => port.port === "metrics"));
    if (!metricsRule?.from?.every((f) => f.namespaceSelector && !f.podSelector)) {
      fail(where, `NetworkPolicy/${p.metadata.name}: metrics not limited to a namespace`);
    }
  }
}

function checkMonitoring(where, objects) {
  const rule = objects.find((o) => o.kind === "PrometheusRule");
  const source = yaml.load(fs.readFileSync(`${repo}/deploy/prometheus/tq-rules.yml`, "utf8"));
  if (!rule) fail(where, "no PrometheusRule");
  else if (canonical(rule.spec) !== canonical(source)) {
    fail(where, "PrometheusRule differs from tq-rules.yml: run deploy/prometheus/gen-prometheusrule.sh");
  }
  const dashboard = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "tq-grafana-dashboard");
  const json = fs.readFileSync(`${repo}/deploy/grafana/tq-dashboard.json`, "utf8");
  if (dashboard?.data?.["tq-dashboard.json"] !== json) fail(where, "dashboard ConfigMap differs from the JSON");
  if (dashboard?.metadata.labels?.grafana_dashboard !== "1") fail(where, "dashboard lacks grafana_dashboard=1");
  const monitor = objects.find((o) => o.kind === "ServiceMonitor");
  if (monitor?.spec.endpoints?.[0]?.port !== "metrics") fail(where, "ServiceMonitor not on port metrics");
}

// The python overlay: code jobs on, admitted by CURVE key only, the workers'
// egress limited, the example Python Job with its script and code-client key.
function checkPython(where, objects) {
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const pod = (kind, name) => find(kind, name)?.spec.template.spec;
  const broker = pod("Deployment", "tq-broker");
  const worker = pod("Deployment", "tq-worker");
  const brokerArgs = broker?.containers[0].args ?? [];
  const workerArgs = worker?.containers[0].args ?? [];
  for (const flag of ["--allow-code=python", "--curve-code-clients=/etc/tq/keys/code-clients"]) {
    if (!brokerArgs.includes(flag)) fail(where, `broker lacks ${flag}`);
  }
  if (brokerArgs.includes("--allow-code-insecure")) fail(where, "broker runs --allow-code-insecure");
  const items = broker?.volumes?.find((v) => v.secret?.secretName === "tq-broker-keys")?.secret.items ?? [];
  if (!items.some((i) => i.key === "code-client.pub" && i.path.startsWith("code-clients/"))) {
    fail(where, "broker does not mount code-client.pub under code-clients/");
  }
  if (!workerArgs.includes("--allow-code=python")) fail(where, "worker lacks --allow-code=python");
  // Runners share the worker's uid: nothing but its own key may be mounted.
  const secrets = (worker?.volumes ?? []).filter((v) => v.secret).map((v) => v.secret.secretName);
  if (secrets.join() !== "tq-worker-keys") fail(where, `worker mounts Secrets ${secrets.join()}`);
  if (!(worker?.volumes ?? []).find((v) => v.name === "tmp")?.emptyDir?.sizeLimit) {
    fail(where, "worker /tmp has no sizeLimit");
  }
  // Egress: only the broker's zmq port and the cluster DNS.
  const policy = objects.find((o) => o.kind === "NetworkPolicy" &&
    o.spec.podSelector.matchLabels?.["app.kubernetes.io/component"] === "worker");
  if (!policy?.spec.policyTypes?.includes("Egress")) fail(where, "worker egress not limited");
  for (const rule of policy?.spec.egress ?? []) {
    const to = rule.to ?? [];
    const toBroker = to.length === 1 && !to[0].namespaceSelector &&
      to[0].podSelector?.matchLabels?.["app.kubernetes.io/component"] === "broker" &&
      rule.ports?.every((p) => p.port === "zmq");
    const toDns = to.length === 1 && to[0].podSelector?.matchLabels?.["k8s-app"] === "kube-dns" &&
      to[0].namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "kube-system" &&
      rule.ports?.every((p) => p.port === 53);
    if (!toBroker && !toDns) fail(where, `worker egress rule beyond broker and DNS: ${JSON.stringify(rule)}`);
  }
  const client = pod("Job", "tq-python-client");
  if (!client) return fail(where, "no Job tq-python-client");
  const c = client.containers[0];
  if (c.command?.[0] !== "python3") fail(where, "tq-python-client does not run python3");
  const script = client.volumes?.find((v) => v.configMap);
  const map = find("ConfigMap", script?.configMap.name);
  const file = c.command?.[1] ?? "";
  const mount = c.volumeMounts?.find((m) => m.name === script?.name);
  if (!map || !mount || !map.data?.[file.slice(mount.mountPath.length + 1)]) {
    fail(where, "tq-python-client's script is not in a rendered ConfigMap");
  }
  const keys = client.volumes?.find((v) => v.secret?.secretName === "tq-code-client-keys");
  if (!keys || c.volumeMounts?.find((m) => m.name === keys.name)?.mountPath !== "/etc/tq/keys") {
    fail(where, "tq-python-client does not mount tq-code-client-keys at /etc/tq/keys");
  } else if ((keys.secret.defaultMode & 0o007) !== 0) fail(where, "tq-code-client-keys world-readable");
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  if (env.TQ_CURVE_KEY !== "/etc/tq/keys/code-client.key") fail(where, "tq-python-client's TQ_CURVE_KEY");
}

// Whether a label selector (matchLabels + matchExpressions, as in
// Deployments, NetworkPolicies, affinity terms) selects these labels. A
// Service's selector is a bare map: pass {matchLabels: selector}.
function selects(selector, labels) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok = { In: has && e.values.includes(labels[e.key]), NotIn: !has || !e.values.includes(labels[e.key]),
      Exists: has, DoesNotExist: !has }[e.operator];
    if (!ok) return false;
  }
  return true;
}

// The standby overlay (issue 8 part 4): two brokers, each its own claim,
// Service and node, linked on their pair ports, and every worker and client
// given both endpoints.
function checkStandby(where, objects) {
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const roles = { primary: find("Deployment", "tq-broker"), backup: find("Deployment", "tq-broker-backup") };
  if (!roles.primary || !roles.backup) return fail(where, "no Deployments tq-broker and tq-broker-backup");
  checkBroker(`${where} Deployment/tq-broker-backup`, roles.backup, objects);
  const labels = (d) => d.spec.template.metadata.labels;
  const container = (d) => d.spec.template.spec.containers[0];
  const claimOf = (d) => d.spec.template.spec.volumes.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim.claimName;
  const services = objects.filter((o) => o.kind === "Service");
  // tcp://host:port -> the roles of the brokers that the Service named host
  // leads to, on their container port named portName of the same number
  // (zmq 5555, pair 5557).
  const reaches = (endpoint, portName) => {
    const [, host, port] = endpoint.match(/^tcp:\/\/([^:/]+):(\d+)$/) ?? [];
    const service = services.find((s) => s.metadata.name === host);
    const target = service?.spec.ports.find((p) => p.port === Number(port))?.targetPort ?? Number(port);
    return Object.entries(roles).filter(([, d]) => service &&
        selects({ matchLabels: service.spec.selector }, labels(d)) &&
        container(d).ports.some((p) => (p.name === target || p.containerPort === target) &&
          p.name === portName && p.containerPort === Number(port)) &&
        service.spec.ports.some((p) => p.port === Number(port)))
      .map(([role]) => role);
  };

  const claims = new Set();
  for (const [role, d] of Object.entries(roles)) {
    const at = `${where} Deployment/${d.metadata.name}`;
    const other = role === "primary" ? roles.backup : roles.primary;
    const otherRole = role === "primary" ? "backup" : "primary";
    const args = container(d).args ?? [];
    const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    if (flag("pair") !== role) fail(at, `not --pair=${role}`);
    if (flag("pair-listen") !== "tcp://*:5557") fail(at, "not --pair-listen=tcp://*:5557");
    if (!container(d).ports.some((p) => p.name === "pair" && p.containerPort === 5557)) fail(at, "no pair port 5557");
    if (reaches(flag("pair-peer") ?? "", "pair").join() !== otherRole) {
      fail(at, `--pair-peer=${flag("pair-peer")} does not lead to the ${otherRole} alone`);
    }
    // Its journal on its own claim, ReadWriteOnce, one process at a time.
    const claim = claimOf(d);
    const pvc = find("PersistentVolumeClaim", claim);
    const volume = d.spec.template.spec.volumes.find((v) => v.persistentVolumeClaim)?.name;
    const mount = container(d).volumeMounts?.find((m) => m.name === volume)?.mountPath;
    if (!mount || !(flag("journal") === mount || flag("journal")?.startsWith(`${mount}/`))) {
      fail(at, `--journal=${flag("journal")} is not on its claim (mounted at ${mount})`);
    }
    if (pvc?.spec.accessModes?.join() !== "ReadWriteOnce") fail(at, `claim ${claim} is not ReadWriteOnce`);
    claims.add(claim);
    // Never on the other broker's node.
    const terms = d.spec.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    if (!terms.some((t) => t.topologyKey === "kubernetes.io/hostname" && !t.namespaces &&
        !t.namespaceSelector && selects(t.labelSelector, labels(other)))) {
      fail(at, `no required anti-affinity by hostname against the ${otherRole}`);
    }
    // Neither Deployment nor Service takes the other broker's pod.
    if (selects(d.spec.selector, labels(other))) fail(at, `selector takes the ${otherRole}'s pods`);
    const service = services.find((s) => reaches(`tcp://${s.metadata.name}:5555`, "zmq").includes(role));
    if (reaches(`tcp://${service?.metadata.name}:5555`, "zmq").join() !== role) {
      fail(at, `no Service on 5555 leading to the ${role} alone`);
    }
    // A passive broker whose readiness says no must still be asked to take over.
    if (service && service.spec.publishNotReadyAddresses !== true) {
      fail(where, `Service/${service.metadata.name} hides a broker that is not ready`);
    }
  }
  if (claims.size !== 2) fail(where, "the two brokers do not have two distinct journal claims");

  // The backup is the primary but for its role, pair flags and claim.
  const normal = (d) => {
    const t = JSON.parse(JSON.stringify(d.spec.template));
    delete t.metadata.labels["tq/pair-role"];
    for (const c of t.spec.containers) {
      c.args = c.args.filter((a) => !/^--pair(-peer)?=/.test(a));
      c.ports.sort((a, b) => (a.name < b.name ? -1 : 1));
    }
    for (const v of t.spec.volumes) if (v.persistentVolumeClaim) v.persistentVolumeClaim.claimName = "";
    return canonical(t);
  };
  if (normal(roles.primary) !== normal(roles.backup)) {
    fail(where, "tq-broker-backup's pod differs from tq-broker's beyond role, pair flags and claim");
  }
  const pvcSpec = (d) => canonical(find("PersistentVolumeClaim", claimOf(d))?.spec);
  if (pvcSpec(roles.primary) !== pvcSpec(roles.backup)) fail(where, "the brokers' claims differ in size or mode");

  // Every worker and client knows both brokers, primary first.
  for (const o of objects.filter((x) => ["tq-worker", "tq-client"].includes(x.spec?.template?.spec?.containers[0].command?.[0]))) {
    const list = brokerList(o.spec.template.spec.containers[0]);
    const order = list.map((e) => reaches(e, "zmq").join());
    if (order.join() !== "primary,backup") {
      fail(`${where} ${o.kind}/${o.metadata.name}`, `--broker=${list.join()} is not the primary's then the backup's Service`);
    }
  }

  // The pair port: reachable only from broker pods. Any ingress rule that
  // opens it (a rule without ports opens all) must admit broker pods of this
  // namespace only, and one rule must admit them.
  const podLabels = objects.filter(podSpecOf).map((o) => o.spec.template.metadata.labels);
  const pairPorts = ["pair", 5557];
  let pairAllowed = false;
  for (const p of objects.filter((o) => o.kind === "NetworkPolicy")) {
    const covers = Object.values(roles).filter((d) => selects(p.spec.podSelector, labels(d)));
    if (covers.length === 0) continue;
    if (covers.length !== 2) fail(where, `NetworkPolicy/${p.metadata.name} covers one broker only`);
    for (const rule of p.spec.ingress ?? []) {
      if (rule.ports?.length && !rule.ports.some((port) => pairPorts.includes(port.port))) continue;
      const from = rule.from ?? [];
      const brokersOnly = from.length > 0 && from.every((f) => f.podSelector && !f.namespaceSelector && !f.ipBlock &&
        podLabels.every((l) => !selects(f.podSelector, l) || l["app.kubernetes.io/component"] === "broker"));
      if (!brokersOnly) fail(where, `NetworkPolicy/${p.metadata.name} opens the pair port beyond the brokers: ${JSON.stringify(rule)}`);
      else if (Object.values(roles).every((d) => from.some((f) => selects(f.podSelector, labels(d))))) pairAllowed = true;
    }
  }
  if (!pairAllowed) fail(where, "no NetworkPolicy rule lets the brokers reach each other's pair port");

  // Drains take one broker at a time.
  const pdb = objects.find((o) => o.kind === "PodDisruptionBudget" &&
    Object.values(roles).every((d) => selects(o.spec.selector, labels(d))));
  if (pdb?.spec.maxUnavailable !== 1) fail(where, "no PodDisruptionBudget with maxUnavailable 1 over both brokers");
}

// What each overlay must contain beyond the common parts.
const overlays = {
  "dev": (where, objects) => {
    if (!objects.some((o) => o.kind === "Job")) fail(where, "no example client Job");
  },
  "production": (where, objects) => checkMonitoring(where, objects),
  "production-keda": (where, objects) => {
    checkMonitoring(where, objects);
    const scaled = objects.find((o) => o.kind === "ScaledObject");
    const trigger = scaled?.spec.triggers?.[0];
    if (scaled?.spec.scaleTargetRef.name !== "tq-worker" || trigger?.type !== "prometheus" ||
        !trigger.metadata.query.includes("tq_broker_chunks_queued")) {
      fail(where, "no KEDA ScaledObject scaling tq-worker on tq_broker_chunks_queued");
    }
    if (objects.some((o) => o.kind === "HorizontalPodAutoscaler")) fail(where, "KEDA and an HPA together");
  },
  "production-hpa": (where, objects) => {
    checkMonitoring(where, objects);
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler");
    if (hpa?.spec.metrics?.[0]?.external?.metric.name !== "tq_broker_chunks_queued") {
      fail(where, "no HPA on the external metric tq_broker_chunks_queued");
    }
    if (objects.some((o) => o.kind === "ScaledObject")) fail(where, "KEDA and an HPA together");
  },
  "secure": (where, objects) => {
    const args = (name) => objects.find((o) => o.kind === "Deployment" && o.metadata.name === name)
      ?.spec.template.spec.containers[0].args ?? [];
    for (const flag of ["--curve-key=/etc/tq/keys/broker.key",
      "--curve-clients=/etc/tq/keys/clients", "--curve-workers=/etc/tq/keys/workers"]) {
      if (!args("tq-broker").includes(flag)) fail(where, `broker lacks ${flag}`);
    }
    for (const flag of ["--curve-key=/etc/tq/keys/worker.key",
      "--curve-server-key=/etc/tq/keys/broker.pub"]) {
      if (!args("tq-worker").includes(flag)) fail(where, `worker lacks ${flag}`);
    }
    for (const [name, secret] of [["tq-broker", "tq-broker-keys"],
      ["tq-worker", "tq-worker-keys"], ["tq-client-primes", "tq-client-keys"]]) {
      const pod = objects.find((o) => podSpecOf(o) && o.metadata.name === name)?.spec.template.spec;
      const volume = pod?.volumes?.find((v) => v.secret?.secretName === secret);
      const mount = pod?.containers[0].volumeMounts?.find((m) => m.name === volume?.name);
      if (mount?.mountPath !== "/etc/tq/keys") fail(where, `${name} does not mount ${secret} at /etc/tq/keys`);
      if (volume && (volume.secret.defaultMode & 0o007) !== 0) fail(where, `${secret} world-readable`);
    }
  },
  "python": (where, objects) => {
    overlays.secure(where, objects);
    checkPython(where, objects);
  },
  "standby": (where, objects) => {
    checkMonitoring(where, objects);
    checkStandby(where, objects);
  },
};

const k8s = `${repo}/deploy/k8s`;
const found = fs.readdirSync(`${k8s}/overlays`).sort();
if (found.join() !== Object.keys(overlays).sort().join()) {
  fail("deploy/k8s/overlays", `has ${found.join(", ")}; this test knows ${Object.keys(overlays).join(", ")}`);
}
const dirs = ["deploy/k8s/base", "deploy/k8s/monitoring", "deploy/k8s/autoscaling/keda",
  "deploy/k8s/autoscaling/hpa", "deploy/k8s/examples/client-job",
  "deploy/k8s/examples/python-client-job", "deploy/grafana",
  "deploy/prometheus", ...found.map((o) => `deploy/k8s/overlays/${o}`)];
let count = 0;
for (const dir of dirs) {
  let objects;
  try {
    objects = render(`${repo}/${dir}`);
  } catch (e) {
    fail(dir, `kubectl kustomize failed: ${e.stderr || e.message}`);
    continue;
  }
  if (objects.length === 0) fail(dir, "renders nothing");
  for (const obj of objects) {
    const where = `${dir} ${obj.kind}/${obj.metadata?.name}`;
    count++;
    await validateSchema(where, obj);
    if (obj.metadata?.labels?.["app.kubernetes.io/name"] !== "tq") fail(where, "not labelled app.kubernetes.io/name=tq");
    checkPod(where, obj);
  }
  const overlay = dir.match(/overlays\/(.+)$/)?.[1];
  if (overlay) {
    checkCommon(dir, objects);
    overlays[overlay]?.(dir, objects);
    const namespaces = new Set(objects.filter((o) => o.kind !== "Namespace").map((o) => o.metadata.namespace));
    if (namespaces.size !== 1 || namespaces.has(undefined)) fail(dir, "objects not all in one namespace");
  }
}
for (const f of failures) console.log("FAIL:", f);
console.log(`${dirs.length} kustomizations, ${count} objects, ${failures.length} failures (${kubectl})`);
process.exit(failures.length ? 1 : 0);
