// Compares the live database (information_schema) with the Prisma datamodel: tables, columns,
// types, nullability, collations of text columns, primary/unique/normal indexes and foreign
// keys. Used by the migration drift test; Agenda's own tables are left out by name.
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** The slice of Prisma's DMMF datamodel this check reads. */
export type DmmfField = {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
  isRequired: boolean;
  isList: boolean;
  isId: boolean;
  isUnique: boolean;
  isUpdatedAt?: boolean;
  documentation?: string;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
};
export type DmmfModel = { name: string; dbName: string | null; fields: DmmfField[] };
export type DmmfIndex = { model: string; type: string; dbName?: string | null; fields: { name: string }[] };
export type DmmfDatamodel = { models: readonly DmmfModel[]; enums: readonly { name: string; values: { name: string }[] }[]; indexes: readonly DmmfIndex[] };

const defaultType: Record<string, string> = {
  Int: 'int(11)',
  BigInt: 'bigint(20)',
  String: 'varchar(191)',
  Boolean: 'tinyint(1)',
  DateTime: 'datetime(3)',
  Json: 'longtext', // MariaDB's JSON is LONGTEXT with a json_valid check
  Float: 'double',
  Decimal: 'decimal(65,30)',
  Bytes: 'longblob',
};

const nativeTypeSql: Record<string, (args: string[]) => string> = {
  VarChar: (a) => `varchar(${a[0]})`,
  Char: (a) => `char(${a[0]})`,
  Text: () => 'text',
  MediumText: () => 'mediumtext',
  LongText: () => 'longtext',
  TinyText: () => 'tinytext',
  DateTime: (a) => `datetime(${a[0] ?? 0})`,
  Date: () => 'date',
  Timestamp: (a) => `timestamp(${a[0] ?? 0})`,
  Int: () => 'int(11)',
  UnsignedInt: () => 'int(10) unsigned',
  BigInt: () => 'bigint(20)',
  UnsignedBigInt: () => 'bigint(20) unsigned',
  SmallInt: () => 'smallint(6)',
  UnsignedSmallInt: () => 'smallint(5) unsigned',
  TinyInt: () => 'tinyint(4)',
  UnsignedTinyInt: () => 'tinyint(3) unsigned',
  Blob: () => 'blob',
  MediumBlob: () => 'mediumblob',
  LongBlob: () => 'longblob',
  VarBinary: (a) => `varbinary(${a[0]})`,
  Binary: (a) => `binary(${a[0]})`,
  Double: () => 'double',
  Decimal: (a) => `decimal(${a[0]},${a[1]})`,
};

function expectedColumnType(f: DmmfField, enums: DmmfDatamodel['enums']): string {
  if (f.kind === 'enum') {
    const e = enums.find((x) => x.name === f.type);
    return `enum(${(e?.values ?? []).map((v) => `'${v.name}'`).join(',')})`;
  }
  if (f.nativeType) {
    const [name, args] = f.nativeType;
    const fn = nativeTypeSql[name];
    if (!fn) return `unknown native type ${name}`;
    return fn(args);
  }
  return defaultType[f.type] ?? `unknown type ${f.type}`;
}

const key = (cols: string[]) => cols.join(',');

/**
 * Prisma cannot state a collation: a String field documented "case-sensitive" is utf8mb4_bin,
 * any other the database default.
 */
const expectedCollation = (f: DmmfField) => (/\bcase-sensitive\b/.test(f.documentation ?? '') ? 'utf8mb4_bin' : 'utf8mb4_unicode_ci');

export async function compareSchema(pool: Pool, dm: DmmfDatamodel, ignoreTables: string[] = []): Promise<string[]> {
  const problems: string[] = [];
  const ignored = new Set(['_prisma_migrations', ...ignoreTables]);
  const [tableRows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
  );
  const dbTables = new Set(tableRows.map((r) => r.t as string).filter((t) => !ignored.has(t)));
  const [colRows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()',
  );
  const [idxRows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS t, INDEX_NAME AS i, NON_UNIQUE AS nu, COLUMN_NAME AS c, SEQ_IN_INDEX AS seq FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX',
  );
  const [fkRows] = await pool.query<RowDataPacket[]>(
    `SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS c, k.REFERENCED_TABLE_NAME AS rt,
            k.REFERENCED_COLUMN_NAME AS rc, r.DELETE_RULE AS del
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.REFERENTIAL_CONSTRAINTS r
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
      WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
  );

  const modelTable = new Map(dm.models.map((m) => [m.name, m.dbName ?? m.name]));
  const colName = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field);
    return f?.dbName ?? field;
  };

  for (const m of dm.models) {
    const table = m.dbName ?? m.name;
    if (!dbTables.has(table)) {
      problems.push(`table ${table} (model ${m.name}) is missing from the database`);
      continue;
    }
    dbTables.delete(table);
    const cols = new Map(colRows.filter((r) => r.t === table).map((r) => [r.c as string, r]));
    for (const f of m.fields.filter((x) => x.kind === 'scalar' || x.kind === 'enum')) {
      const c = f.dbName ?? f.name;
      const row = cols.get(c);
      if (!row) {
        problems.push(`${table}.${c}: column missing`);
        continue;
      }
      cols.delete(c);
      const want = expectedColumnType(f, dm.enums);
      // Enum labels are case-sensitive; MariaDB reports other type names in lower case.
      const got = f.kind === 'enum' ? String(row.type) : String(row.type).toLowerCase();
      if (got !== want) problems.push(`${table}.${c}: type is ${got}, schema.prisma says ${want}`);
      const nullable = row.nullable === 'YES';
      if (f.kind === 'scalar' && f.type === 'String' && row.collation !== expectedCollation(f)) {
        problems.push(`${table}.${c}: collation is ${row.collation}, schema.prisma says ${expectedCollation(f)}`);
      }
      if (nullable === f.isRequired) problems.push(`${table}.${c}: ${nullable ? 'nullable' : 'NOT NULL'} in the database, ${f.isRequired ? 'required' : 'optional'} in schema.prisma`);
    }
    for (const extra of cols.keys()) problems.push(`${table}.${extra}: column exists in the database but not in schema.prisma`);

    // Indexes: group the DB's by name.
    const dbIdx = new Map<string, { unique: boolean; cols: string[] }>();
    for (const r of idxRows.filter((x) => x.t === table)) {
      const e = dbIdx.get(r.i) ?? { unique: Number(r.nu) === 0, cols: [] as string[] };
      e.cols.push(r.c);
      dbIdx.set(r.i, e);
    }
    const pk = dbIdx.get('PRIMARY');
    dbIdx.delete('PRIMARY');
    const idFields = m.fields.filter((f) => f.isId).map((f) => f.dbName ?? f.name);
    const compoundId = dm.indexes.find((i) => i.model === m.name && i.type === 'id');
    const wantPk = idFields.length ? idFields : (compoundId?.fields.map((f) => colName(m, f.name)) ?? []);
    if (key(pk?.cols ?? []) !== key(wantPk)) problems.push(`${table}: primary key is (${pk?.cols.join(', ') ?? ''}), schema.prisma says (${wantPk.join(', ')})`);

    const wantUnique = new Set<string>();
    const wantNormal = new Set<string>();
    for (const i of dm.indexes.filter((x) => x.model === m.name)) {
      const cs = key(i.fields.map((f) => colName(m, f.name)));
      if (i.type === 'unique') wantUnique.add(cs);
      else if (i.type === 'normal') wantNormal.add(cs);
    }
    for (const f of m.fields.filter((x) => x.isUnique)) wantUnique.add(f.dbName ?? f.name);
    const fkCols = new Set(
      m.fields.filter((f) => f.relationFromFields?.length).map((f) => key(f.relationFromFields!.map((x) => colName(m, x)))),
    );
    const gotUnique = new Set<string>();
    const gotNormal = new Set<string>();
    for (const e of dbIdx.values()) (e.unique ? gotUnique : gotNormal).add(key(e.cols));
    for (const u of wantUnique) if (!gotUnique.has(u)) problems.push(`${table}: unique index on (${u}) is missing`);
    for (const u of gotUnique) if (!wantUnique.has(u)) problems.push(`${table}: unique index on (${u}) is not in schema.prisma`);
    for (const n of wantNormal) if (!gotNormal.has(n)) problems.push(`${table}: index on (${n}) is missing`);
    // InnoDB creates an index for a foreign key's columns when none covers them.
    for (const n of gotNormal) if (!wantNormal.has(n) && !fkCols.has(n)) problems.push(`${table}: index on (${n}) is not in schema.prisma`);

    // Foreign keys
    const dbFks = new Map<string, { cols: string[]; rt: string; rcs: string[]; del: string }>();
    for (const r of fkRows.filter((x) => x.t === table)) {
      const e = dbFks.get(r.name) ?? { cols: [] as string[], rt: String(r.rt), rcs: [] as string[], del: String(r.del) };
      e.cols.push(r.c);
      e.rcs.push(r.rc);
      dbFks.set(r.name, e);
    }
    const gotFks = new Set([...dbFks.values()].map((e) => `(${key(e.cols)}) -> ${e.rt}(${key(e.rcs)}) ON DELETE ${e.del}`));
    for (const f of m.fields.filter((x) => x.kind === 'object' && x.relationFromFields?.length)) {
      const target = dm.models.find((x) => x.name === f.type)!;
      const onDelete = (f.relationOnDelete ?? (f.isRequired ? 'Restrict' : 'SetNull'))
        .replace('SetNull', 'SET NULL')
        .replace('NoAction', 'NO ACTION')
        .replace('SetDefault', 'SET DEFAULT')
        .toUpperCase();
      const want = `(${key(f.relationFromFields!.map((x) => colName(m, x)))}) -> ${modelTable.get(f.type)}(${key(f.relationToFields!.map((x) => colName(target, x)))}) ON DELETE ${onDelete}`;
      if (!gotFks.has(want)) problems.push(`${table}: foreign key ${want} is missing (database has: ${[...gotFks].join('; ') || 'none'})`);
      gotFks.delete(want);
    }
    for (const extra of gotFks) problems.push(`${table}: foreign key ${extra} is not in schema.prisma`);
  }
  for (const t of dbTables) problems.push(`table ${t} exists in the database but not in schema.prisma`);
  return problems;
}
