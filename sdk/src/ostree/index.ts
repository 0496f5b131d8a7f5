// `@fmd/sdk/ostree`: GVariant (the serialization of OSTree metadata) and reading local OSTree
// repos (Node only for the latter: it reads the file system).
export * from './gvariant.ts';
export * from './repo.ts';
