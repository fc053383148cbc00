package naming

// Overlay returns a function that adjusts the instances of service k as
// every reader must see them (operator overrides kept by the control
// plane), or nil when nothing applies to k. It is called with the store's
// read lock held, so it must not call back into the store. The function it
// returns changes only the Instance it is given and must replace, never
// modify, its Metadata map.
type Overlay func(k ServiceKey) func(*Instance)

// SetOverlay installs o (nil removes it); every later read of instances
// (Service, FindInstance) applies it.
func (s *Store) SetOverlay(o Overlay) {
	if o == nil {
		s.overlay.Store(nil)
		return
	}
	s.overlay.Store(&o)
}

func (s *Store) overlayFor(k ServiceKey) func(*Instance) {
	o := s.overlay.Load()
	if o == nil {
		return nil
	}
	return (*o)(k)
}

// Touch marks service k changed without changing its records, for a
// change of what its overlay applies: its revision increases so that
// caches keyed by revision are rebuilt. Listeners are not told (the
// change is not a replicated record); the caller notifies readers.
func (s *Store) Touch(k ServiceKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.services[k]; sv != nil {
		sv.revision++
	}
}

// Catalog is a durable source of explicitly created services and their
// settings (the control plane). With a catalog, a service it holds exists
// whether or not it has instances, and its settings win over any service
// metadata record. Its methods are called with the store's read lock held
// and must not call back into the store.
type Catalog interface {
	// ServiceMeta returns the settings of an explicitly created service.
	ServiceMeta(k ServiceKey) (ServiceMeta, bool)
	// CatalogServices returns the explicitly created services of a
	// namespace.
	CatalogServices(ns string) []ServiceKey
	// CatalogNamespaces returns the namespaces holding such services.
	CatalogNamespaces() []string
	// PersistentInstances returns the persistent instances of a service,
	// which exist beside the ephemeral ones the store holds.
	PersistentInstances(k ServiceKey) []Instance
	// Revision counts the catalog's changes to what readers see of a
	// service; it is added to the store's own revision.
	Revision(k ServiceKey) uint64
}

// SetCatalog installs c (nil removes it).
func (s *Store) SetCatalog(c Catalog) {
	if c == nil {
		s.catalog.Store(nil)
		return
	}
	s.catalog.Store(&c)
}

func (s *Store) catalogMeta(k ServiceKey) (ServiceMeta, bool) {
	c := s.catalog.Load()
	if c == nil {
		return ServiceMeta{}, false
	}
	return (*c).ServiceMeta(k)
}

func (s *Store) catalogServices(ns string) []ServiceKey {
	c := s.catalog.Load()
	if c == nil {
		return nil
	}
	return (*c).CatalogServices(ns)
}

func (s *Store) catalogNamespaces() []string {
	c := s.catalog.Load()
	if c == nil {
		return nil
	}
	return (*c).CatalogNamespaces()
}

func (s *Store) catalogPersistent(k ServiceKey) []Instance {
	c := s.catalog.Load()
	if c == nil {
		return nil
	}
	return (*c).PersistentInstances(k)
}

func (s *Store) catalogRevision(k ServiceKey) uint64 {
	c := s.catalog.Load()
	if c == nil {
		return 0
	}
	return (*c).Revision(k)
}
