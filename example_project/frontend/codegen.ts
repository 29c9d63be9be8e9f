// Schema-first codegen: TypeScript types for the operations in operations.graphql, checked against
// the SDL that `make schema` exports to the repository root (tests/test_schema_sdl.py keeps it current).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["operations.graphql"],
  // A document that does not validate against the schema (unknown field, wrong type) fails the run.
  generates: {
    "src/generated/graphql.ts": {
      plugins: ["typescript", "typescript-operations", "typed-document-node"],
      config: {
        // Every custom scalar must be mapped here: a new scalar in the schema fails codegen
        // instead of silently becoming `any`.
        strictScalars: true,
        scalars: {
          ID: "string",
          DateTime: "string",
          FileSize: "number",
        },
        // Enums as string unions: the values are the wire values (EXAMPLE_DOCUMENT_ATTACHMENT)
        // and need no runtime object.
        enumsAsTypes: true,
        useTypeImports: true,
        nonOptionalTypename: true,
        // A field in a response is always present (null or not); inputs keep optional fields.
        avoidOptionals: { field: true, object: true, inputValue: false, defaultValue: false },
        // The documents are emitted as strings, sent as-is with fetch (no GraphQL client library).
        documentMode: "string",
      },
    },
  },
};

export default config;
