package chaos

// Event is one line of the history the chaos client writes (JSON, one per
// line, in the order things happened in the client process). Times are Unix
// nanoseconds of the machine's wall clock, which every network namespace
// shares with the test process.
type Event struct {
	// Kind is one of the Kind* constants.
	Kind string `json:"k"`
	// T is the time of the event: the invoke time of an invoke, the answer
	// time of a done, the time a client went silent, a push's arrival.
	T int64 `json:"t"`

	// Operation fields (KindInvoke, KindDone, KindSilent, KindPush).
	ID      int64  `json:"id,omitempty"`
	Client  string `json:"c,omitempty"`
	Service string `json:"svc,omitempty"`
	// Addr is the instance's "ip:port".
	Addr string `json:"addr,omitempty"`
	// Op is one of the Op* constants.
	Op string `json:"op,omitempty"`
	// Node is the distrod node ("ip:port") a request went to or was read from.
	Node string `json:"node,omitempty"`
	// OK reports an acknowledged operation (done) or a successful read.
	OK bool `json:"ok,omitempty"`
	// Res is the answer or the error, for the report.
	Res string `json:"res,omitempty"`
	// Gen is an HTTP client's registration count at an invoke: the
	// instance's MetaGen metadata in that register or beat.
	Gen string `json:"gen,omitempty"`

	// Poll fields (KindPoll): readiness codes before and after the reads
	// (0 = no answer), the list answers per service.
	T1     int64               `json:"t1,omitempty"`
	Ready0 int                 `json:"r0,omitempty"`
	Ready1 int                 `json:"r1,omitempty"`
	Codes  map[string]int      `json:"codes,omitempty"`
	Hosts  map[string][]string `json:"hosts,omitempty"`
	// Gens maps "service ip:port" to the MetaGen metadata of a listed
	// instance, when it has one.
	Gens map[string]string `json:"gens,omitempty"`
	Err  string            `json:"err,omitempty"`

	// Status fields (KindStatus).
	Ready  bool   `json:"ready,omitempty"`
	Digest string `json:"digest,omitempty"`

	// Control plane fields (KindCPInvoke, KindCPDone). Key is the
	// register (CPKeys) a write or create names, Val the value it writes.
	// Vals holds what a read saw of every CPKeys register (absent: the
	// namespace, instance or metadata entry did not exist). Final marks the
	// reads of the end, after the quiet period began.
	Key   string            `json:"key,omitempty"`
	Val   string            `json:"val,omitempty"`
	Vals  map[string]string `json:"vals,omitempty"`
	Final bool              `json:"final,omitempty"`
	// Refused marks a write the server answered it did not do (400, or a
	// namespace write answered false): it had no effect.
	Refused bool `json:"refused,omitempty"`
}

// MetaGen is the instance metadata key in which a chaos client (HTTP or SDK)
// records which of its registrations an instance comes from, so that the
// checker can tell a stale replica of an earlier registration from the
// current one.
const MetaGen = "chaos.gen"

// Event kinds.
const (
	// KindInvoke: a client starts an operation (written before the request).
	KindInvoke = "invoke"
	// KindDone: the operation's outcome, with the same ID.
	KindDone = "done"
	// KindSilent: an HTTP client stops beating without deregistering.
	KindSilent = "silent"
	// KindPush: a subscription callback of an SDK client fired; Res holds
	// the sorted instance list.
	KindPush = "push"
	// KindPoll: one read round of one node: readiness, every service's
	// instance list, readiness again.
	KindPoll = "poll"
	// KindStatus: one /distrod/status answer.
	KindStatus = "status"
	// KindQuiet: the client stopped changing registrations (the quiet
	// period began); alive clients keep beating.
	KindQuiet = "quiet"
	// KindCPInvoke: a control plane client starts an operation (Op is one
	// of OpCPCreate, OpCPWrite, OpCPRead).
	KindCPInvoke = "cpinvoke"
	// KindCPDone: its outcome, with the same ID; OK reports an
	// acknowledged write or a read that saw its own barrier.
	KindCPDone = "cpdone"
	// KindCPEnd: the final control plane reads are over (after the quiet
	// period began, every CP client having stopped).
	KindCPEnd = "cpend"
)

// Operations.
const (
	OpRegister   = "register"
	OpBeat       = "beat"
	OpDeregister = "deregister"
	// OpCPCreate creates a CPKeys namespace with the description CPInit
	// (a namespace that exists already is left as it is).
	OpCPCreate = "cp.create"
	// OpCPWrite sets a register: a namespace's description (PUT
	// /nacos/v1/console/namespaces; refused when it does not exist), the
	// persistent instance's metadata (POST /nacos/v1/ns/instance with
	// ephemeral=false, which replaces it), its override's metadata (PUT
	// /nacos/v1/ns/instance, which replaces the override).
	OpCPWrite = "cp.write"
	// OpCPRead is a linearizable read of every CPKeys register through one
	// node: an acknowledged barrier write, reads of the node's namespace
	// list until it shows the barrier, then the node's instance list of
	// CPService (see doc.go).
	OpCPRead = "cp.read"
)

// The control plane registers the CP clients write and read, by key:
// three namespaces (their description), a persistent instance of service
// CPService (its registered metadata MetaCPValue) and the operator
// override of that instance (its metadata MetaCPOverride).
var (
	CPNamespaces = []string{"chaos-ns-1", "chaos-ns-2", "chaos-ns-3"}
	CPKeys       = append(append([]string(nil), CPNamespaces...), CPKeyPersistent, CPKeyOverride)
)

// The persistent instance and its override.
const (
	CPService       = "chaos.cp"
	CPInstanceIP    = "10.202.0.1"
	CPInstancePort  = 8001
	CPKeyPersistent = "persistent " + CPService + " 10.202.0.1:8001"
	CPKeyOverride   = "override " + CPService + " 10.202.0.1:8001"
	MetaCPValue     = "chaos.v"
	MetaCPOverride  = "chaos.o"
)

// CPInit is the value a register is created with: a namespace's first
// description, the first registration's and override's metadata.
const CPInit = "init"

// CPBarrierPrefix starts the namespace id of a CP client's barrier
// namespace (the final reads use CPBarrierPrefix+"final").
const CPBarrierPrefix = "chaos-nsb-"

// Services the chaos client uses: HTTP v1 beat clients register in
// ServiceHTTP, nacos-sdk-go v2 clients in ServiceSDK.
const (
	ServiceHTTP = "chaos.http"
	ServiceSDK  = "chaos.sdk"
)
