// Linear-time JSON conversion for the @tufjs/models collections that grow with a repository's history.
//
// @tufjs/models 4.1 builds the `targets` map of targets metadata and the `meta` map of snapshot metadata, in both
// directions (fromJSON and toJSON), with `reduce((acc, …) => ({ ...acc, [k]: v }), {})`: every entry copies all
// the ones before it, so n targets cost n²/2 property copies. At 1,000 releases (2,000 targets) that was 17 s of a
// `targets add` and most of a client's no-update check: tuf-js parses and verifies (toJSON + canonical JSON)
// targets.json through the same classes. `useLinearModels()` replaces those four conversions, on the one copy of
// @tufjs/models that this package and tuf-js share, by ones that build the same object in one pass: the same keys
// in the same order, each value converted by the same TargetFile/MetaFile call in the same order, the same
// errors for input the originals refuse (that input goes to the originals). Other fields still go through the
// originals, so nothing else of the classes is duplicated here.
import { MetaFile, Snapshot, TargetFile, Targets } from '@tufjs/models';

type Json = Record<string, unknown>;

let installed = false;

/** @internal The conversions useLinearModels replaced, by class name (for the tests that compare the two). */
export const replacedConversions = new Map<
  string,
  { fromJSON: (data: Json) => Json; toJSON: (this: Json) => Json }
>();

/** Make @tufjs/models' Targets and Snapshot (de)serialize in linear time (idempotent; see the file comment). */
export function useLinearModels(): void {
  if (installed) return;
  installed = true;
  linearMap(Targets, 'targets', (path, value) => TargetFile.fromJSON(path, value as never));
  linearMap(Snapshot, 'meta', (_path, value) => MetaFile.fromJSON(value as never));
}

interface Convertible {
  toJSON(): Json;
}

/**
 * Wrap `cls.fromJSON` and `cls.prototype.toJSON` so the map field `field` is converted in one pass. The originals
 * still convert every other field: they get the object with an empty map, and the map is put in afterwards (an
 * existing key keeps its place, so the JSON's key order is the original's).
 */
function linearMap(
  // biome-ignore lint/suspicious/noExplicitAny: @tufjs/models' classes, patched in place.
  cls: any,
  field: string,
  fromValue: (key: string, value: unknown) => unknown,
): void {
  const originalFromJSON: (data: Json) => Json = cls.fromJSON;
  const originalToJSON: (this: Json) => Json = cls.prototype.toJSON;
  replacedConversions.set(cls.name, { fromJSON: originalFromJSON, toJSON: originalToJSON });

  cls.fromJSON = function fromJSON(data: Json): Json {
    const map = data?.[field];
    // What the originals refuse (or leave to their defaults) goes to them, for their own errors and defaults.
    if (!isObjectRecord(map)) return originalFromJSON.call(this, data);
    const signed = originalFromJSON.call(this, { ...data, [field]: {} });
    signed[field] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, fromValue(k, v)]));
    return signed;
  };

  cls.prototype.toJSON = function toJSON(this: Json): Json {
    const map = this[field] as Record<string, Convertible>;
    const unrecognized = this.unrecognizedFields as Json | undefined;
    // An unrecognized field of the same name overrides the map in the original's output: leave that case to it.
    if (unrecognized && Object.hasOwn(unrecognized, field)) return originalToJSON.call(this);
    const json = originalToJSON.call(Object.create(this, { [field]: { value: {} } }));
    json[field] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v.toJSON()]));
    return json;
  };
}

/** @tufjs/models' own test for these maps: an object whose values are all non-null objects. */
function isObjectRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((v) => typeof v === 'object' && v !== null)
  );
}
