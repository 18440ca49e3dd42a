//! Binding a filter's arguments the way Python binds a call: by position or by keyword.

use minijinja::value::{Kwargs, Rest, Value, ValueOrKwargs};
use minijinja::{Error, ErrorKind, State};

use crate::jinja::error::filter_error;

/// The extra arguments of a filter: positional values, then maybe keyword arguments.
pub(crate) type Args = Rest<ValueOrKwargs>;

/// Binds `args` (positional values, then optionally keyword arguments) to `names`.
///
/// Returns one slot per name, `None` where the argument was not given. Too many positional
/// arguments, an unknown keyword or an argument given twice is an error naming the filter.
pub(crate) fn bind(
    filter: &str,
    args: &[ValueOrKwargs],
    names: &[&str],
) -> Result<Vec<Option<Value>>, Error> {
    let (positional, kwargs) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => {
            let kwargs = Kwargs::try_from(Value::from(last.clone()))?;
            (rest, Some(kwargs))
        }
        _ => (args, None),
    };
    if positional.len() > names.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!(
                "filter `{filter}` takes at most {} arguments, {} given",
                names.len(),
                positional.len()
            ),
        ));
    }
    let mut slots: Vec<Option<Value>> = names.iter().map(|_| None).collect();
    for (slot, value) in slots.iter_mut().zip(positional) {
        *slot = Some(Value::from(value.clone()));
    }
    if let Some(kwargs) = kwargs {
        for key in kwargs.args() {
            let Some(index) = names.iter().position(|name| *name == key) else {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("filter `{filter}` has no argument `{key}`"),
                ));
            };
            if slots[index].is_some() {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("filter `{filter}` got argument `{key}` twice"),
                ));
            }
            slots[index] = Some(kwargs.get::<Value>(key)?);
        }
    }
    Ok(slots)
}

/// An argument as a non-negative integer, or `default` when absent or `none`.
pub(crate) fn usize_arg(
    filter: &str,
    name: &str,
    value: Option<&Value>,
    default: usize,
) -> Result<usize, Error> {
    match value {
        None => Ok(default),
        Some(value) if value.is_none() || value.is_undefined() => Ok(default),
        Some(value) => value
            .as_i64()
            .and_then(|number| usize::try_from(number).ok())
            .ok_or_else(|| {
                filter_error(
                    filter,
                    format!("`{name}` must be a non-negative integer, not `{value}`"),
                )
            }),
    }
}

/// An argument's Python truthiness, or `default` when absent.
pub(crate) fn bool_arg(value: Option<&Value>, default: bool) -> bool {
    value.map_or(default, Value::is_true)
}

/// Pays fuel for `bytes` of output a filter is about to create, before creating it, so that
/// a template cannot allocate past its budget in one call.
pub(crate) fn charge(state: &State<'_, '_>, bytes: usize) -> Result<(), Error> {
    state.consume_fuel((bytes / 64) as u64)
}
