//! The schema subset (`schema.graphql`), validation of a query against it, and its cost.

use graphql_parser::query::{
    Definition, Document, OperationDefinition, Selection, SelectionSet, TypeCondition, Value,
};
use graphql_parser::schema::{self as sdl, TypeDefinition};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The subset of GitHub's schema the simulator serves.
pub const SCHEMA_SDL: &str = include_str!("schema.graphql");

/// One argument of a field: its named type and whether it must be given.
#[derive(Debug, Clone)]
pub(crate) struct ArgDef {
    pub ty: String,
    pub required: bool,
}

/// One field: its named type (lists and non-null stripped) and arguments.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub ty: String,
    pub args: HashMap<String, ArgDef>,
}

#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub objects: HashMap<String, HashMap<String, FieldDef>>,
    pub enums: HashMap<String, Vec<String>>,
}

fn named(ty: &sdl::Type<'_, String>) -> (String, bool) {
    match ty {
        sdl::Type::NamedType(n) => (n.clone(), false),
        sdl::Type::ListType(inner) => (named(inner).0, false),
        sdl::Type::NonNullType(inner) => (named(inner).0, true),
    }
}

fn parse_schema() -> Result<Schema, String> {
    let doc = sdl::parse_schema::<String>(SCHEMA_SDL).map_err(|e| e.to_string())?;
    let mut schema = Schema::default();
    for def in doc.definitions {
        let sdl::Definition::TypeDefinition(def) = def else {
            continue;
        };
        match def {
            TypeDefinition::Object(o) => {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| {
                        let args = f
                            .arguments
                            .iter()
                            .map(|a| {
                                let (ty, non_null) = named(&a.value_type);
                                let required = non_null && a.default_value.is_none();
                                (a.name.clone(), ArgDef { ty, required })
                            })
                            .collect();
                        (
                            f.name.clone(),
                            FieldDef {
                                ty: named(&f.field_type).0,
                                args,
                            },
                        )
                    })
                    .collect();
                schema.objects.insert(o.name, fields);
            }
            TypeDefinition::Enum(e) => {
                schema
                    .enums
                    .insert(e.name, e.values.into_iter().map(|v| v.name).collect());
            }
            _ => {}
        }
    }
    Ok(schema)
}

/// The parsed subset (parsed once).
pub(crate) fn schema() -> Result<&'static Schema, SchemaError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(parse_schema)
        .as_ref()
        .map_err(|e| SchemaError::new("INTERNAL", format!("the schema subset: {e}")))
}

/// One error as GitHub reports it in `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// GitHub's `type` or `extensions.code` (`undefinedField`, `MISSING_PAGINATION_BOUNDARIES`,
    /// `MAX_NODE_LIMIT_EXCEEDED`, …).
    pub kind: String,
    /// The message.
    pub message: String,
}

impl SchemaError {
    fn new(kind: &str, message: String) -> SchemaError {
        SchemaError {
            kind: kind.to_owned(),
            message,
        }
    }

    pub(crate) fn to_json(&self) -> Json {
        json!({ "type": self.kind, "message": self.message })
    }
}

/// A field to resolve, fragments inlined and arguments with variables substituted.
#[derive(Debug, Clone)]
pub(crate) struct Sel {
    /// The response key (alias or name).
    pub key: String,
    pub name: String,
    pub args: BTreeMap<String, Json>,
    pub children: Vec<Sel>,
}

impl Sel {
    pub(crate) fn arg_str(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Json::as_str)
    }

    pub(crate) fn arg_u64(&self, name: &str) -> Option<u64> {
        self.args.get(name).and_then(Json::as_u64)
    }
}

/// A validated query: what to resolve and what it costs.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub root: Vec<Sel>,
    /// Points: connection requests / 100, rounded, at least 1.
    pub cost: u64,
    /// Nodes the query may return at most.
    pub nodes: u64,
}

type Doc = Document<'static, String>;
type Set = SelectionSet<'static, String>;
type Vars = serde_json::Map<String, Json>;

fn to_json(value: &Value<'static, String>, vars: &Vars) -> Json {
    match value {
        Value::Variable(name) => vars.get(name).cloned().unwrap_or(Json::Null),
        Value::Int(n) => n.as_i64().map_or(Json::Null, Json::from),
        Value::Float(f) => Json::from(*f),
        Value::String(s) => Json::from(s.clone()),
        Value::Boolean(b) => Json::from(*b),
        Value::Null => Json::Null,
        Value::Enum(e) => Json::from(e.clone()),
        Value::List(items) => Json::Array(items.iter().map(|v| to_json(v, vars)).collect()),
        Value::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(v, vars)))
                .collect(),
        ),
    }
}

struct Walker<'d> {
    schema: &'static Schema,
    doc: &'d Doc,
    vars: &'d Vars,
    errors: Vec<SchemaError>,
    depth: usize,
}

impl Walker<'_> {
    fn fragment(&self, name: &str) -> Option<&Set> {
        self.doc.definitions.iter().find_map(|d| match d {
            Definition::Fragment(f) if f.name == name => Some(&f.selection_set),
            _ => None,
        })
    }

    fn check_condition(&mut self, parent: &str, condition: Option<&TypeCondition<'_, String>>) {
        if let Some(TypeCondition::On(on)) = condition
            && on != parent
        {
            self.errors.push(SchemaError::new(
                "fragmentSpreadImpossible",
                format!("Fragment on {on} can't be spread inside {parent}"),
            ));
        }
    }

    fn walk(&mut self, parent: &str, set: &Set, out: &mut Vec<Sel>) {
        self.depth += 1;
        if self.depth > 32 {
            self.errors.push(SchemaError::new(
                "tooDeep",
                "the query nests too deeply (or its fragments loop)".into(),
            ));
            self.depth -= 1;
            return;
        }
        for item in &set.items {
            match item {
                Selection::Field(f) => self.field(parent, f, out),
                Selection::FragmentSpread(spread) => {
                    let Some(body) = self.fragment(&spread.fragment_name).cloned() else {
                        self.errors.push(SchemaError::new(
                            "undefinedFragment",
                            format!(
                                "Fragment {} was used, but not defined",
                                spread.fragment_name
                            ),
                        ));
                        continue;
                    };
                    let condition = self.doc.definitions.iter().find_map(|d| match d {
                        Definition::Fragment(f) if f.name == spread.fragment_name => {
                            Some(f.type_condition.clone())
                        }
                        _ => None,
                    });
                    self.check_condition(parent, condition.as_ref());
                    self.walk(parent, &body, out);
                }
                Selection::InlineFragment(inline) => {
                    self.check_condition(parent, inline.type_condition.as_ref());
                    self.walk(parent, &inline.selection_set, out);
                }
            }
        }
        self.depth -= 1;
    }

    fn field(
        &mut self,
        parent: &str,
        f: &graphql_parser::query::Field<'static, String>,
        out: &mut Vec<Sel>,
    ) {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        if f.name == "__typename" {
            out.push(Sel {
                key,
                name: f.name.clone(),
                args: BTreeMap::new(),
                children: Vec::new(),
            });
            return;
        }
        let Some(def) = self.schema.objects.get(parent).and_then(|o| o.get(&f.name)) else {
            self.errors.push(SchemaError::new(
                "undefinedField",
                format!("Field '{}' doesn't exist on type '{parent}'", f.name),
            ));
            return;
        };
        let mut args = BTreeMap::new();
        for (name, value) in &f.arguments {
            let Some(arg) = def.args.get(name) else {
                self.errors.push(SchemaError::new(
                    "argumentNotAccepted",
                    format!("Field '{}' doesn't accept argument '{name}'", f.name),
                ));
                continue;
            };
            let value = to_json(value, self.vars);
            if let Some(values) = self.schema.enums.get(&arg.ty)
                && !value
                    .as_str()
                    .is_some_and(|v| values.iter().any(|e| e == v))
                && !value.is_null()
            {
                self.errors.push(SchemaError::new(
                    "argumentLiteralsIncompatible",
                    format!(
                        "Argument '{name}' on Field '{}' has an invalid value ({value}). Expected type '{}'.",
                        f.name, arg.ty
                    ),
                ));
            }
            args.insert(name.clone(), value);
        }
        for (name, arg) in &def.args {
            if arg.required && args.get(name).is_none_or(Json::is_null) {
                self.errors.push(SchemaError::new(
                    "missingRequiredArguments",
                    format!("Field '{}' is missing required arguments: {name}", f.name),
                ));
            }
        }
        let is_object = self.schema.objects.contains_key(&def.ty);
        let mut children = Vec::new();
        if is_object {
            if f.selection_set.items.is_empty() {
                self.errors.push(SchemaError::new(
                    "selectionMismatch",
                    format!(
                        "Field must have selections (field '{}' returns {} but has no selections.)",
                        f.name, def.ty
                    ),
                ));
            }
            self.walk(&def.ty, &f.selection_set, &mut children);
        } else if !f.selection_set.items.is_empty() {
            self.errors.push(SchemaError::new(
                "selectionMismatch",
                format!(
                    "Selections can't be made on scalars (field '{}' returns {})",
                    f.name, def.ty
                ),
            ));
        }
        // Fields with the same response key merge (fragments that overlap).
        if let Some(existing) = out.iter_mut().find(|s| s.key == key && s.name == f.name) {
            existing.children.extend(children);
        } else {
            out.push(Sel {
                key,
                name: f.name.clone(),
                args,
                children,
            });
        }
    }
}

fn is_connection(ty: &str) -> bool {
    ty.ends_with("Connection")
}

/// Adds the connection requests and nodes below `parent` to `requests` and `nodes`;
/// `times`: how often this level is resolved.
fn count(
    schema: &Schema,
    parent: &str,
    sels: &[Sel],
    times: u64,
    totals: &mut (u64, u64),
    errors: &mut Vec<SchemaError>,
) {
    for sel in sels {
        let Some(def) = schema.objects.get(parent).and_then(|o| o.get(&sel.name)) else {
            continue;
        };
        let mut below = times;
        if is_connection(&def.ty) {
            match sel.arg_u64("first") {
                Some(first @ 1..=100) => {
                    totals.0 = totals.0.saturating_add(times);
                    below = times.saturating_mul(first);
                    totals.1 = totals.1.saturating_add(below);
                }
                Some(first) => errors.push(SchemaError::new(
                    "MISSING_PAGINATION_BOUNDARIES",
                    format!(
                        "Requesting {first} records on the `{}` connection exceeds the `first` limit of 100 records.",
                        sel.name
                    ),
                )),
                None => errors.push(SchemaError::new(
                    "MISSING_PAGINATION_BOUNDARIES",
                    format!(
                        "You must provide a `first` value to properly paginate the `{}` connection.",
                        sel.name
                    ),
                )),
            }
        }
        count(schema, &def.ty, &sel.children, below, totals, errors);
    }
}

/// Parses and validates `query` against the subset, substitutes `variables` (and the
/// operation's defaults) and computes its cost and node count.
pub(crate) fn plan(
    query: &str,
    operation: Option<&str>,
    variables: &Vars,
) -> Result<Plan, Vec<SchemaError>> {
    let schema = schema().map_err(|e| vec![e])?;
    let doc: Doc = graphql_parser::parse_query::<String>(query)
        .map_err(|e| vec![SchemaError::new("parseError", format!("Parse error: {e}"))])?
        .into_static();
    let operations: Vec<&OperationDefinition<'static, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    let chosen = match operation {
        Some(name) => operations.iter().find(|o| match o {
            OperationDefinition::Query(q) => q.name.as_deref() == Some(name),
            OperationDefinition::Mutation(m) => m.name.as_deref() == Some(name),
            OperationDefinition::Subscription(s) => s.name.as_deref() == Some(name),
            OperationDefinition::SelectionSet(_) => false,
        }),
        None if operations.len() == 1 => operations.first(),
        None => None,
    };
    let Some(chosen) = chosen else {
        return Err(vec![SchemaError::new(
            "operationNotFound",
            "An operation name is required when the document has more than one operation, and must name one of them".into(),
        )]);
    };
    let mut vars = variables.clone();
    let set = match chosen {
        OperationDefinition::SelectionSet(set) => set,
        OperationDefinition::Query(q) => {
            for def in &q.variable_definitions {
                if !vars.contains_key(&def.name)
                    && let Some(default) = &def.default_value
                {
                    let value = to_json(default, &Vars::new());
                    vars.insert(def.name.clone(), value);
                }
            }
            &q.selection_set
        }
        OperationDefinition::Mutation(_) | OperationDefinition::Subscription(_) => {
            return Err(vec![SchemaError::new(
                "unsupportedOperation",
                "the simulator serves queries only".into(),
            )]);
        }
    };
    let mut walker = Walker {
        schema,
        doc: &doc,
        vars: &vars,
        errors: Vec::new(),
        depth: 0,
    };
    let mut root = Vec::new();
    walker.walk("Query", set, &mut root);
    let mut errors = walker.errors;
    let mut totals = (0, 0);
    count(schema, "Query", &root, 1, &mut totals, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (requests, nodes) = totals;
    if nodes > super::NODE_LIMIT {
        return Err(vec![SchemaError::new(
            "MAX_NODE_LIMIT_EXCEEDED",
            format!(
                "This query requests up to {nodes} possible nodes which exceeds the maximum limit of {}.",
                super::NODE_LIMIT
            ),
        )]);
    }
    Ok(Plan {
        root,
        cost: points(requests),
        nodes,
    })
}

/// GitHub's rule: connection requests divided by 100, rounded, at least 1.
pub(crate) fn points(requests: u64) -> u64 {
    (requests.saturating_add(50) / 100).max(1)
}

/// Validates a query document against the schema subset the simulator serves (every field
/// exists on its type, arguments and enum values exist, required arguments are given, every
/// connection has `first` within 1..=100, the node limit holds) and returns its cost in points.
/// For client tests: a query that passes here is one the simulator answers.
pub fn validate_query(query: &str, variables: &serde_json::Value) -> Result<u64, Vec<SchemaError>> {
    let vars = variables.as_object().cloned().unwrap_or_default();
    plan(query, None, &vars).map(|p| p.cost)
}
